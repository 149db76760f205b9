package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/netpulse/netpulse/pipeline/posts"
)

// The bench's posts are public-safety news in the words analysts search
// for. The search package's fixture generator lives in its test files, so
// the bench keeps its own, smaller one: the figures need realistic Chinese
// text of the right length, not judged relevance.
var benchTopics = []struct {
	titles, sentences []string
}{
	{[]string{"{p}警方破获一起电信诈骗案", "警惕！{p}发生多起电信诈骗", "{p}反诈中心发布电诈预警"},
		[]string{"近日，{p}一名市民接到自称客服的电话，被骗{m}元。", "警方提醒，凡是要求转账到安全账户的都是电信诈骗。",
			"犯罪嫌疑人通过境外电话实施电信诈骗，已被刑事拘留。", "反诈民警第一时间拦截了被骗资金{m}元。"}},
	{[]string{"兼职刷单是诈骗！{p}一女子被骗{m}元", "{p}警方提醒：网络刷单返利都是骗局"},
		[]string{"受害人在网上看到兼职刷单的广告，按要求垫付资金后对方失联。", "前几单返利很快，等投入大笔资金后就无法提现。",
			"{p}民警提醒，任何要求先垫付的刷单都是诈骗。"}},
	{[]string{"{p}一民房发生火灾", "{p}一厂房突发火灾，消防紧急处置"},
		[]string{"{p}一居民楼发生火灾，消防救援人员迅速赶到现场。", "火灾未造成人员伤亡，起火原因正在调查中。",
			"现场浓烟滚滚，消防员出动{n}辆消防车扑救。", "一辆停放在楼道内的电动车充电时起火，引发火灾。"}},
	{[]string{"{p}发生一起交通事故", "{p}两车相撞致{n}人受伤"},
		[]string{"{p}路口发生一起两车相撞的交通事故，造成{n}人受伤。", "交警到场后迅速疏导交通，事故原因正在调查。",
			"司机酒后驾车撞上道路护栏，经检测属于酒驾。", "这起车祸导致道路拥堵近一个小时。"}},
	{[]string{"暴雨来袭，{p}多处积水", "{p}洪水过境，群众安全转移"},
		[]string{"受持续暴雨影响，{p}部分河段水位超过警戒线。", "应急部门转移群众{n}人，未发生人员伤亡。",
			"受上游来水影响，长江水位持续上涨，防汛压力加大。"}},
	{[]string{"{p}警方破获系列盗窃案", "{p}警方打掉一个跑分洗钱团伙"},
		[]string{"嫌疑人趁夜色入室盗窃，盗走现金和首饰。", "民警调取监控，很快锁定了盗窃嫌疑人。",
			"该团伙利用收购来的银行卡为诈骗团伙跑分，帮助转移赃款{m}元。", "出租出借银行卡、手机卡涉嫌帮信罪。"}},
	{[]string{"{p}警方破获一起贩卖毒品案", "{p}一老人走失，民警连夜寻找"},
		[]string{"民警在出租屋内查获毒品{n}克。", "贩毒嫌疑人通过网络联系买家，以快递方式交易毒品。",
			"一名患有阿尔茨海默症的老人外出后失踪，家属报警求助。", "民警调取监控沿路搜寻，{n}小时后找到老人。"}},
	{[]string{"{p}城市生活服务指南", "{p}举办全民健身运动会", "{p}便民服务再升级"},
		[]string{"市民扫码刷单车月卡出行更方便了。", "周末公园里有很多市民散步。", "施工人员正在对道路进行维护。",
			"社区举办老年人智能手机培训。", "图书馆延长周末开放时间。"}},
}

var (
	benchPlaces  = []string{"临江区", "江岸区", "东湖新区", "南山镇", "城西街道", "高新区", "北湖区", "滨海新区"}
	benchSources = []string{"weibo", "news", "gov-notice", "forum", "wechat"}
	benchEpoch   = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
)

// benchPostGen makes posts of about 500 bytes spread over days days,
// deterministically and in chunks, so that a million-post index never
// needs a million posts in memory.
type benchPostGen struct {
	r      *rand.Rand
	days   int
	prefix string
	next   int
}

func newBenchPostGen(prefix string, days int) *benchPostGen {
	return &benchPostGen{r: rand.New(rand.NewPCG(7, 7)), days: days, prefix: prefix}
}

func (g *benchPostGen) fill(s string) string {
	s = strings.ReplaceAll(s, "{p}", benchPlaces[g.r.IntN(len(benchPlaces))])
	s = strings.ReplaceAll(s, "{n}", fmt.Sprint(2+g.r.IntN(30)))
	return strings.ReplaceAll(s, "{m}", fmt.Sprint(1000*(1+g.r.IntN(500))))
}

// take returns the next n posts.
func (g *benchPostGen) take(n int) []posts.Post {
	out := make([]posts.Post, n)
	for i := range out {
		t := benchTopics[g.r.IntN(len(benchTopics))]
		var body strings.Builder
		for body.Len() < 450 {
			body.WriteString(g.fill(t.sentences[g.r.IntN(len(t.sentences))]))
		}
		at := benchEpoch.Add(time.Duration(g.r.IntN(g.days*24*3600)) * time.Second)
		id := fmt.Sprintf("%s%08d", g.prefix, g.next)
		out[i] = posts.Post{ID: id, Source: benchSources[g.r.IntN(len(benchSources))], URL: "https://bench.example/" + id,
			Title: g.fill(t.titles[g.r.IntN(len(t.titles))]), Body: body.String(), Author: fmt.Sprintf("user%04d", g.r.IntN(5000)),
			PublishedAt: at, FetchedAt: at.Add(time.Minute), ClusterID: uint64(g.next/3 + 1), Lang: "zh"}
		g.next++
	}
	return out
}
