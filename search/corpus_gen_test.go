package search

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "regenerate testdata/corpus.jsonl and testdata/judgments.json")

// corpusPost is one fixture post. Tags say what the post is about (as a
// human judge would); they decide relevance, never the text matching.
type corpusPost struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Author      string    `json:"author"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	PublishedAt time.Time `json:"published_at"`
	Tags        []string  `json:"tags"`
}

type topic struct {
	tags      []string
	titles    []string
	sentences []string
	weight    int
}

// Topics of the fixture corpus, in the vocabulary of public-safety news and
// police notices. {p} is a place, {n} a number, {m} an amount.
var topics = []topic{
	{tags: []string{"诈骗", "电信诈骗"}, weight: 8,
		titles: []string{"{p}警方破获一起电信诈骗案", "警惕！{p}发生多起电信诈骗", "{p}反诈中心发布电诈预警"},
		sentences: []string{"近日，{p}一名市民接到自称客服的电话，被骗{m}元。", "警方提醒，凡是要求转账到安全账户的都是电信诈骗。",
			"犯罪嫌疑人通过境外电话实施电信诈骗，已被刑事拘留。", "反诈民警第一时间拦截了被骗资金{m}元。", "电诈团伙分工明确，有人负责引流，有人负责话术。"}},
	{tags: []string{"诈骗", "刷单"}, weight: 6,
		titles: []string{"兼职刷单是诈骗！{p}一女子被骗{m}元", "{p}警方提醒：网络刷单返利都是骗局"},
		sentences: []string{"受害人在网上看到兼职刷单的广告，按要求垫付资金后对方失联。", "前几单返利很快，等投入大笔资金后就无法提现。",
			"所谓刷单返利，就是先给小甜头再骗大钱。", "{p}民警提醒，任何要求先垫付的刷单都是诈骗。"}},
	{tags: []string{"诈骗", "杀猪盘", "虚拟货币"}, weight: 5,
		titles: []string{"网恋对象带你投资？{p}男子遭遇杀猪盘", "{p}警方揭秘杀猪盘骗局"},
		sentences: []string{"对方在婚恋网站上以谈恋爱为名获取信任，再诱导投资虚拟货币。", "受害人在所谓的投资平台上充值{m}元后无法提现。",
			"杀猪盘的骗子先养号聊天，时机成熟后诱骗受害人投资。", "警方提醒，网上认识的恋人推荐投资平台，一定是诈骗。"}},
	{tags: []string{"跑分", "洗钱"}, weight: 4,
		titles: []string{"{p}警方打掉一个跑分洗钱团伙", "出租银行卡参与跑分，{p}多人被抓"},
		sentences: []string{"该团伙利用收购来的银行卡为诈骗团伙跑分，帮助转移赃款{m}元。#诈骗", "出租出借银行卡、手机卡涉嫌帮信罪。",
			"跑分平台以高额佣金为诱饵，吸引学生出借银行卡。", "取现车手在{p}多台自动取款机取走赃款，涉嫌洗钱。"}},
	{tags: []string{"诈骗", "电信诈骗", "冒充公检法"}, weight: 4,
		titles: []string{"冒充公检法诈骗又出新花样，{p}一老人险些被骗#老人", "{p}反诈民警上门劝阻冒充公检法诈骗"},
		sentences: []string{"骗子自称公安局民警，称受害人涉嫌洗钱案件，要求配合调查。", "对方发来伪造的通缉令，要求把钱转到安全账户。",
			"公检法机关从不通过电话办案，更不会要求转账。", "民警及时赶到，成功阻止老人转账{m}元。#老人"}},
	{tags: []string{"诈骗", "网贷"}, weight: 3,
		titles: []string{"无抵押秒到账？{p}一青年网贷被骗", "{p}警方提醒谨防网贷诈骗"},
		sentences: []string{"对方以办理网贷需要缴纳保证金为由，骗取受害人{m}元。", "贷款没到账，反而被收取了解冻费、手续费。",
			"正规贷款机构放款前不会收取任何费用。"}},
	{tags: []string{"诈骗", "网贷", "校园贷"}, weight: 2,
		titles:    []string{"{p}一高校学生陷入校园贷", "警惕校园贷陷阱"},
		sentences: []string{"一名大学生通过校园贷借款{m}元，利滚利后欠款翻了几倍。", "校园贷打着低息的幌子，实际年化利率极高。", "学校和警方联合开展防范校园贷宣传。"}},
	{tags: []string{"诈骗", "研究生"}, weight: 2,
		titles:    []string{"冒充导师诈骗研究生，{p}警方提醒", "{p}多名研究生遭遇冒充导师诈骗"},
		sentences: []string{"骗子冒充导师添加研究生的微信，以送礼为由要求转账。", "一名在读研究生被骗{m}元后报警。", "警方提醒各高校研究生，核实导师身份后再转账。"}},
	{tags: []string{"诈骗", "拍卖"}, weight: 2,
		titles:    []string{"网络拍卖捡漏？{p}一男子被骗{m}元", "{p}警方破获虚假拍卖诈骗案"},
		sentences: []string{"嫌疑人在网上发布虚假拍卖信息，以低价车辆为诱饵收取保证金。", "所谓的司法拍卖平台是仿冒网站。", "参与网络拍卖要认准官方渠道。"}},
	{tags: []string{"诈骗", "电信诈骗", "车主"}, weight: 2,
		titles:    []string{"ETC认证失效？{p}多名车主收到诈骗短信", "{p}车主注意：谨防冒充ETC客服诈骗"},
		sentences: []string{"骗子群发短信称车主的ETC认证失效，诱导点击钓鱼网站。", "一名车主按提示填写银行卡信息后被盗刷{m}元。", "交警提醒广大车主，ETC不会通过短信要求认证。"}},
	{tags: []string{"火灾"}, weight: 6,
		titles: []string{"{p}一民房发生火灾", "{p}一厂房突发火灾，消防紧急处置", "{p}一居民楼起火"},
		sentences: []string{"{p}一居民楼发生火灾，消防救援人员迅速赶到现场。", "火灾未造成人员伤亡，起火原因正在调查中。",
			"现场浓烟滚滚，消防员出动{n}辆消防车扑救。", "大火被扑灭后，消防部门对周边进行了排查。", "厂房内堆放的杂物失火，火势蔓延很快。"}},
	{tags: []string{"火灾", "电动车"}, weight: 3,
		titles:    []string{"电动车入户充电引发火灾", "{p}一楼道电动车起火"},
		sentences: []string{"一辆停放在楼道内的电动车充电时起火，引发火灾。", "消防部门提醒，电动车不要在室内充电。", "电动车电池老化是起火的主要原因。"}},
	{tags: []string{"火灾", "公交"}, weight: 1,
		titles:    []string{"{p}一辆公交车行驶中起火"},
		sentences: []string{"一辆公交车在行驶途中冒烟起火，司机及时疏散乘客。", "公交公司已安排车辆接驳，起火原因正在调查。"}},
	{tags: []string{"交通事故"}, weight: 6,
		titles: []string{"{p}发生一起交通事故", "{p}两车相撞致{n}人受伤", "{p}发生车祸，交警提醒注意安全"},
		sentences: []string{"{p}路口发生一起两车相撞的交通事故，造成{n}人受伤。", "交警到场后迅速疏导交通，事故原因正在调查。",
			"一辆货车与小轿车发生碰撞，所幸无人死亡。", "这起车祸导致道路拥堵近一个小时。"}},
	{tags: []string{"交通事故", "酒驾"}, weight: 2,
		titles:    []string{"{p}一司机酒驾撞上护栏", "酒驾肇事！{p}交警依法查处"},
		sentences: []string{"司机酒后驾车撞上道路护栏，经检测属于酒驾。", "交警提醒，喝酒不开车，开车不喝酒。", "酒驾司机被依法吊销驾驶证。"}},
	{tags: []string{"交通事故", "长江", "南京"}, weight: 1,
		titles:    []string{"南京市长江大桥发生追尾"},
		sentences: []string{"南京市长江大桥上发生三车追尾，造成交通拥堵。", "交警提醒经过长江大桥的车辆减速慢行。"}},
	{tags: []string{"交通事故", "公交"}, weight: 1,
		titles:    []string{"{p}一辆公交车与电动自行车相撞"},
		sentences: []string{"一辆公交车在转弯时与电动自行车相撞，骑车人受轻伤。", "公交公司表示将配合交警调查。"}},
	{tags: []string{"洪水", "暴雨"}, weight: 4,
		titles: []string{"暴雨来袭，{p}多处积水", "{p}遭遇强降雨，防汛应急响应启动", "{p}洪水过境，群众安全转移", "沿海公路上海水倒灌，{p}多路段积水"},
		sentences: []string{"受持续暴雨影响，{p}部分河段水位超过警戒线。", "应急部门转移群众{n}人，未发生人员伤亡。",
			"洪水冲毁了一段乡村道路，抢修工作正在进行。", "气象台发布暴雨橙色预警，提醒市民减少外出。", "沿海公路上海水倒灌，部分路段积水。"}},
	{tags: []string{"洪水", "长江"}, weight: 2,
		titles:    []string{"长江水位持续上涨", "长江{p}段进入汛期"},
		sentences: []string{"受上游来水影响，长江水位持续上涨，防汛压力加大。", "沿江各地加强堤防巡查，防范洪水。", "长江干流出现今年第一号洪水。"}},
	{tags: []string{"盗窃"}, weight: 4,
		titles:    []string{"{p}警方破获系列盗窃案", "{p}一小区多户被盗"},
		sentences: []string{"嫌疑人趁夜色入室盗窃，盗走现金和首饰。", "民警调取监控，很快锁定了盗窃嫌疑人。", "警方提醒居民外出时锁好门窗。"}},
	{tags: []string{"盗窃", "电动车"}, weight: 2,
		titles:    []string{"{p}警方抓获盗窃电动车团伙"},
		sentences: []string{"该团伙专门盗窃小区内的电动车，作案{n}起。", "被盗电动车已全部追回并发还车主。#车主"}},
	{tags: []string{"毒品"}, weight: 3,
		titles:    []string{"{p}警方破获一起贩卖毒品案", "{p}禁毒宣传进校园"},
		sentences: []string{"民警在出租屋内查获毒品{n}克。", "贩毒嫌疑人通过网络联系买家，以快递方式交易毒品。", "禁毒民警向学生讲解毒品的危害。"}},
	{tags: []string{"失踪", "老人"}, weight: 2,
		titles:    []string{"{p}一老人走失，民警连夜寻找", "八旬老人失踪，{p}警民合力寻回"},
		sentences: []string{"一名患有阿尔茨海默症的老人外出后失踪，家属报警求助。", "民警调取监控沿路搜寻，{n}小时后找到老人。"}},
	{tags: []string{"溺水"}, weight: 2,
		titles:    []string{"{p}一少年溺水", "暑期防溺水，{p}警方发布提醒"},
		sentences: []string{"一名少年在河边游泳时溺水，经抢救脱离危险。", "警方提醒家长，严防孩子私自下水游泳，谨防溺水。"}},
	{tags: []string{"燃气爆炸"}, weight: 2,
		titles:    []string{"{p}一餐馆发生燃气爆炸", "燃气泄漏引发爆炸，{p}{n}人受伤"},
		sentences: []string{"一家餐馆后厨燃气泄漏，引发燃气爆炸。", "爆炸造成{n}人受伤，周边商铺玻璃被震碎。", "应急管理部门开展燃气安全排查。"}},
	{tags: []string{"食物中毒", "中毒"}, weight: 2,
		titles:    []string{"{p}一工地发生集体食物中毒", "{p}多名学生疑似食物中毒"},
		sentences: []string{"{n}名工人在食堂就餐后出现呕吐症状，疑似食物中毒。#工人", "市场监管部门已封存剩余食品并送检。"}},
	{tags: []string{"中毒"}, weight: 1,
		titles:    []string{"{p}一家三口一氧化碳中毒"},
		sentences: []string{"一家三口在密闭房间内烧炭取暖，导致一氧化碳中毒。", "消防提醒冬季取暖注意通风。"}},
	{tags: []string{"网络赌博"}, weight: 2,
		titles:    []string{"{p}警方打掉一个网络赌博平台", "沉迷网络赌博，{p}一男子输光积蓄"},
		sentences: []string{"该团伙搭建网络赌博网站，涉案流水{m}元。", "赌客通过手机下注，庄家操控输赢。"}},
	{tags: []string{"工人", "欠薪"}, weight: 2,
		titles:    []string{"{p}人社部门帮农民工讨回欠薪", "{p}一工地拖欠工人工资"},
		sentences: []string{"{n}名工人被拖欠工资，向劳动监察部门求助。", "经协调，包工头承诺一周内支付全部欠薪。"}},
	{tags: []string{"市长", "洪水"}, weight: 1,
		titles:    []string{"市长到{p}防汛一线检查"},
		sentences: []string{"市长到{p}堤防察看汛情，要求全力做好防汛工作。", "市长强调，要把群众生命安全放在第一位。"}},
	{tags: []string{"动车"}, weight: 2,
		titles:    []string{"受天气影响，多趟动车晚点", "{p}站动车恢复运行"},
		sentences: []string{"受暴风雪影响，途经{p}的多趟动车晚点。", "铁路部门提醒旅客关注动车运行信息。"}},
	// Posts about nothing the judged queries ask for, with the word
	// boundaries that trip character bigrams.
	{tags: nil, weight: 6,
		titles: []string{"{p}城市生活服务指南", "{p}举办全民健身运动会", "{p}文化活动周开幕", "{p}便民服务再升级",
			"长跑分组比赛在{p}举行", "{p}市民扫码刷单车出行成风尚", "{p}举行办公交流座谈会", "研究生命科学的{p}青年学者",
			"{p}体育用品店乒乓球拍卖完了", "{p}小区电动车库门故障", "公交车主要线路调整#公交", "市长江涛调研{p}文化工作#市长"},
		sentences: []string{"市民扫码刷单车月卡出行更方便了。", "长跑分组比赛在体育场举行，{n}名选手参赛。", "公交车主要线路今天恢复正常运营。#公交",
			"双方进行了办公交流，签署了合作协议。", "有关专家在研究生命科学领域的新进展。", "小区电动车库门故障，物业已安排维修。",
			"赛车手在比赛中表现出色。", "体育用品店的乒乓球拍卖完了。", "施工人员正在对道路进行维护。", "周末公园里有很多市民散步。",
			"市长江涛出席开幕式并致辞。#市长", "图书馆延长了开放时间。"}},
}

var (
	localPlaces = []string{"临江区东湖街道", "临江区西关街道", "临江区北湖镇", "临江区滨江路", "临江区南岭村"}
	cityPlaces  = map[string]string{"上海市浦东新区": "上海", "上海": "上海", "南京市": "南京", "杭州市": "杭州", "武汉市": "武汉", "成都市": "成都"}
	cityOrder   = []string{"上海市浦东新区", "上海", "南京市", "杭州市", "武汉市", "成都市"}
	sources     = []string{"weibo", "news", "forum", "wechat"}
	fillers     = []string{"相关部门表示将进一步加强管理。", "记者了解到，此事引起了不少网友关注。", "目前，相关工作仍在进行中。",
		"警方提醒广大市民提高警惕。", "如遇紧急情况，请及时拨打110报警。", "施工人员正在抢修受损设施。", "沿海公路上海水倒灌，部分路段积水。",
		"公交车主要线路受到一定影响。#公交"}
)

// judgedQueries maps each query to the tag a relevant post carries.
var judgedQueries = map[string]string{
	"电信诈骗": "电信诈骗", "诈骗": "诈骗", "诈骗案": "诈骗", "刷单": "刷单", "杀猪盘": "杀猪盘", "虚拟货币": "虚拟货币",
	"跑分": "跑分", "洗钱": "洗钱", "冒充公检法": "冒充公检法", "网贷": "网贷", "校园贷": "校园贷", "研究生": "研究生",
	"拍卖": "拍卖", "车主": "车主", "火灾": "火灾", "起火": "火灾", "电动车": "电动车", "公交": "公交", "交通事故": "交通事故",
	"车祸": "交通事故", "酒驾": "酒驾", "洪水": "洪水", "暴雨": "暴雨", "长江": "长江", "盗窃": "盗窃", "毒品": "毒品",
	"失踪": "失踪", "老人": "老人", "溺水": "溺水", "燃气爆炸": "燃气爆炸", "食物中毒": "食物中毒", "中毒": "中毒",
	"网络赌博": "网络赌博", "工人": "工人", "市长": "市长", "动车": "动车", "上海": "上海", "南京": "南京", "临江区": "临江区",
}

func fill(r *rand.Rand, s, place string) string {
	s = strings.ReplaceAll(s, "{p}", place)
	s = strings.ReplaceAll(s, "{n}", fmt.Sprint(2+r.IntN(30)))
	return strings.ReplaceAll(s, "{m}", fmt.Sprintf("%d.%d万", 1+r.IntN(90), r.IntN(10)))
}

func generateCorpus(n int) []corpusPost {
	r := rand.New(rand.NewPCG(20261129, 5))
	total := 0
	for _, t := range topics {
		total += t.weight
	}
	start := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	out := make([]corpusPost, 0, n)
	for i := range n {
		k := r.IntN(total)
		var tp topic
		for _, t := range topics {
			if k < t.weight {
				tp = t
				break
			}
			k -= t.weight
		}
		var place, placeTag string
		if r.IntN(3) == 0 {
			place = cityOrder[r.IntN(len(cityOrder))]
			placeTag = cityPlaces[place]
		} else {
			place = localPlaces[r.IntN(len(localPlaces))]
			placeTag = "临江区"
		}
		tags := append([]string{placeTag}, tp.tags...)
		// A sentence may carry what it is about after '#'.
		take := func(s string) string {
			s, extra, _ := strings.Cut(s, "#")
			if extra != "" {
				tags = append(tags, strings.Split(extra, ",")...)
			}
			return fill(r, s, place)
		}
		title := take(tp.titles[r.IntN(len(tp.titles))])
		var body []string
		perm := r.Perm(len(tp.sentences))
		for j := 0; j < min(len(perm), 2+r.IntN(2)); j++ {
			body = append(body, take(tp.sentences[perm[j]]))
		}
		for range 1 + r.IntN(2) {
			body = append(body, take(fillers[r.IntN(len(fillers))]))
		}
		r.Shuffle(len(body)-1, func(a, b int) { body[a+1], body[b+1] = body[b+1], body[a+1] })
		out = append(out, corpusPost{
			ID:          fmt.Sprintf("c%05d", i),
			Source:      sources[r.IntN(len(sources))],
			Author:      fmt.Sprintf("user%03d", r.IntN(200)),
			Title:       title,
			Body:        strings.Join(body, ""),
			PublishedAt: start.Add(time.Duration(r.IntN(14*24*60)) * time.Minute),
			Tags:        tags,
		})
	}
	return out
}

func judge(corpus []corpusPost) map[string][]string {
	out := map[string][]string{}
	for q, tag := range judgedQueries {
		out[q] = []string{}
		for _, p := range corpus {
			for _, t := range p.Tags {
				if t == tag {
					out[q] = append(out[q], p.ID)
					break
				}
			}
		}
		sort.Strings(out[q])
	}
	return out
}

// TestGenerateCorpus rewrites the fixture with -update and otherwise checks
// that the committed fixture is what the generator makes.
func TestGenerateCorpus(t *testing.T) {
	corpus := generateCorpus(2400)
	judgments := judge(corpus)
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, p := range corpus {
		enc.Encode(p)
	}
	js, _ := json.MarshalIndent(judgments, "", " ")
	files := map[string]string{"corpus.jsonl": buf.String(), "judgments.json": string(js) + "\n"}
	for name, want := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGenerateCorpus -update)", err)
		}
		if string(got) != want {
			t.Errorf("%s differs from the generator; run go test -run TestGenerateCorpus -update", path)
		}
	}
}
