package simhash

import (
	"fmt"
	"strings"
	"testing"
)

const story = `11月28日上午，市公安局反诈中心发布预警：近期有不法分子冒充快递客服，以“快递丢失理赔”为由诱导群众下载会议软件并开启屏幕共享，进而骗取银行卡密码和验证码。一名市民因此被骗4.6万元。警方提醒，正规快递理赔不会要求下载陌生软件，更不会索要验证码，如遇可疑情况请立即拨打96110咨询。`

const other = `11月28日凌晨，城南工业园区一处仓库发生火灾，消防救援支队接警后调派8辆消防车、40余名指战员赶赴现场处置。经过两个小时扑救，明火被扑灭，未造成人员伤亡，起火原因正在调查中。消防部门提醒，仓库应规范存放易燃物品，定期检查电气线路。`

func fp(s string) uint64 { return Fingerprint(Bigrams{}.Cut(s)) }

func TestNearDuplicates(t *testing.T) {
	base := fp(story)
	tests := []struct {
		name string
		text string
		same bool
	}{
		{"identical", story, true},
		{"repost prefix", "转发：" + story, true},
		{"source suffix", story + "（来源：平安城市）", true},
		{"edited number", strings.Replace(story, "4.6万元", "46000元", 1), true},
		{"punctuation changed", strings.ReplaceAll(story, "，", ","), true},
		{"different story", other, false},
		{"same topic different text", `警方通报：一男子在网上刷单兼职，先后向对方转账十余次共计12万元后发现被骗，遂报警。反诈中心提醒，所有刷单都是诈骗。`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Distance(base, fp(tt.text))
			if got := d <= DefaultThreshold; got != tt.same {
				t.Errorf("distance %d, same=%v want %v", d, got, tt.same)
			}
		})
	}
}

func TestBigrams(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"电信诈骗", "电信 信诈 诈骗"},
		{"拨打96110咨询", "拨打 96110 咨询"},
		{"Hello, 火", "hello 火"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Bigrams{}.Cut(tt.in), " "); got != tt.want {
			t.Errorf("Cut(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIndexAssign(t *testing.T) {
	ix, err := NewIndex(DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ix.Assign("a", fp(story))
	b, _ := ix.Assign("b", fp("转发："+story))
	c, _ := ix.Assign("c", fp(other))
	d, _ := ix.Assign("d", fp(story+"（来源：平安城市）"))
	if a.Cluster != fp(story) || b.Cluster != a.Cluster || d.Cluster != a.Cluster {
		t.Errorf("reposts got clusters %x %x %x, want all %x", a.Cluster, b.Cluster, d.Cluster, fp(story))
	}
	if c.Cluster != fp(other) {
		t.Errorf("distinct story got cluster %x, want its own fingerprint %x", c.Cluster, fp(other))
	}
	again, added := ix.Assign("b", fp(other))
	if added || again.Cluster != a.Cluster {
		t.Errorf("re-assign of b = %+v added=%v, want the original cluster a", again, added)
	}

	// A restored index gives the same answers.
	re, _ := NewIndex(DefaultThreshold)
	for _, e := range []Entry{a, b, c, d} {
		re.Add(e)
	}
	e, _ := re.Assign("e", fp("【转】"+story))
	if e.Cluster != a.Cluster {
		t.Errorf("after restore, repost got cluster %x, want %x", e.Cluster, a.Cluster)
	}
}

// TestIndexMatchesBruteForce checks the block index against a linear scan:
// a candidate within the threshold must never be missed.
func TestIndexMatchesBruteForce(t *testing.T) {
	for _, th := range []int{0, 3, 6} {
		ix, _ := NewIndex(th)
		var all []Entry
		x := uint64(0x9e3779b97f4a7c15)
		for i := 0; i < 3000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			f := x
			if i%3 == 1 && len(all) > 0 { // flip a few bits of an earlier one
				f = all[int(x%uint64(len(all)))].Fingerprint ^ (1 << (x % 64)) ^ (1 << ((x >> 8) % 64))
			}
			id := fmt.Sprint(i)
			want := f
			if want == 0 {
				want = 1
			}
			best := th + 1
			for _, e := range all {
				if d := Distance(f, e.Fingerprint); d < best {
					best, want = d, e.Cluster
				}
			}
			e, _ := ix.Assign(id, f)
			if e.Cluster != want {
				t.Fatalf("threshold %d entry %d: cluster %x, brute force %x", th, i, e.Cluster, want)
			}
			all = append(all, e)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	tok := Bigrams{}
	b.SetBytes(int64(len(story)))
	for b.Loop() {
		Fingerprint(tok.Cut(story))
	}
}
