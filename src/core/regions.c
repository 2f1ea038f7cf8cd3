/*
 * regions.c: province-level divisions (GB/T 2260) and the prefecture-level
 * cities most often found at the head of company names, in Han and in the
 * spelling English company names use.
 */
#include "regions.h"

#define LENGTH(a) ((int) (sizeof(a) / sizeof((a)[0])))

const char *const crm_region_han[] = {
	"北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
	"安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南",
	"陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
	"石家庄", "太原", "呼和浩特", "沈阳", "大连", "长春", "哈尔滨", "南京", "苏州", "无锡", "常州",
	"南通", "徐州", "扬州", "镇江", "泰州", "盐城", "连云港", "淮安", "宿迁", "杭州", "宁波",
	"温州", "嘉兴", "湖州", "绍兴", "金华", "台州", "丽水", "衢州", "舟山", "义乌", "合肥", "芜湖",
	"蚌埠", "福州", "厦门", "泉州", "漳州", "南昌", "赣州", "济南", "青岛", "烟台", "潍坊", "淄博",
	"临沂", "济宁", "威海", "郑州", "洛阳", "开封", "武汉", "宜昌", "襄阳", "长沙", "株洲", "湘潭",
	"岳阳", "广州", "深圳", "珠海", "佛山", "东莞", "中山", "惠州", "汕头", "江门", "湛江", "肇庆",
	"南宁", "桂林", "柳州", "海口", "三亚", "成都", "绵阳", "贵阳", "遵义", "昆明", "拉萨", "西安",
	"宝鸡", "兰州", "西宁", "银川", "乌鲁木齐", "保定", "唐山", "廊坊", "邯郸", "大同", "包头",
	"鞍山", "大庆", "昆山", "江阴", "张家港", "常熟", "慈溪", "余姚", "晋江", "顺德",
};
const int	crm_n_region_han = LENGTH(crm_region_han);

const char *const crm_region_latin[] = {
	"beijing", "tianjin", "shanghai", "chongqing", "hebei", "shanxi",
	"liaoning", "jilin", "heilongjiang", "jiangsu", "zhejiang", "anhui",
	"fujian", "jiangxi", "shandong", "henan", "hubei", "hunan",
	"guangdong", "hainan", "sichuan", "guizhou", "yunnan", "shaanxi",
	"gansu", "qinghai", "taiwan", "inner mongolia", "guangxi", "tibet",
	"ningxia", "xinjiang", "hong kong", "macau", "shijiazhuang", "taiyuan",
	"hohhot", "shenyang", "dalian", "changchun", "harbin", "nanjing",
	"suzhou", "wuxi", "changzhou", "nantong", "xuzhou", "yangzhou",
	"zhenjiang", "taizhou", "yancheng", "lianyungang", "huaian", "suqian",
	"hangzhou", "ningbo", "wenzhou", "jiaxing", "huzhou", "shaoxing",
	"jinhua", "lishui", "quzhou", "zhoushan", "yiwu", "hefei", "wuhu",
	"bengbu", "fuzhou", "xiamen", "quanzhou", "zhangzhou", "nanchang",
	"ganzhou", "jinan", "qingdao", "yantai", "weifang", "zibo", "linyi",
	"jining", "weihai", "zhengzhou", "luoyang", "kaifeng", "wuhan",
	"yichang", "xiangyang", "changsha", "zhuzhou", "xiangtan", "yueyang",
	"guangzhou", "shenzhen", "zhuhai", "foshan", "dongguan", "zhongshan",
	"huizhou", "shantou", "jiangmen", "zhanjiang", "zhaoqing", "nanning",
	"guilin", "liuzhou", "haikou", "sanya", "chengdu", "mianyang",
	"guiyang", "zunyi", "kunming", "lhasa", "xian", "baoji", "lanzhou",
	"xining", "yinchuan", "urumqi", "baoding", "tangshan", "langfang",
	"handan", "datong", "baotou", "anshan", "daqing", "kunshan",
	"jiangyin", "zhangjiagang", "changshu", "cixi", "yuyao", "jinjiang",
	"shunde",
};
const int	crm_n_region_latin = LENGTH(crm_region_latin);

const char *const crm_region_suffixes[] = {
	"壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区",
	"自治州", "地区", "新区", "开发区", "省", "市", "区", "县",
};
const int	crm_n_region_suffixes = LENGTH(crm_region_suffixes);
