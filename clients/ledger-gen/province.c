/*
 * province.c — the province as data: Jiangsu's cities and counties, the main
 * worker groups and their platforms, the regional and enterprise unions.
 */
#include "gen.h"

/* ------------------------------------------------------------------ */
/* The province: cities, counties, groups, platforms                   */
/* ------------------------------------------------------------------ */

/* Jiangsu's 13 prefecture-level cities and a few of their districts and
 * county-level cities (GB/T 2260); weight: share of the members, in %. */
const struct city_def cities[N_CITIES] = {
    {320100,
     "南京市",
     "南京",
     15,
     4,
     {{320102, "玄武区"}, {320104, "秦淮区"}, {320106, "鼓楼区"}, {320115, "江宁区"}}},
    {320200,
     "无锡市",
     "无锡",
     10,
     4,
     {{320213, "梁溪区"}, {320211, "滨湖区"}, {320214, "新吴区"}, {320281, "江阴市"}}},
    {320300,
     "徐州市",
     "徐州",
     9,
     4,
     {{320303, "云龙区"}, {320311, "泉山区"}, {320312, "铜山区"}, {320382, "邳州市"}}},
    {320400,
     "常州市",
     "常州",
     7,
     4,
     {{320402, "天宁区"}, {320404, "钟楼区"}, {320411, "新北区"}, {320412, "武进区"}}},
    {320500,
     "苏州市",
     "苏州",
     18,
     5,
     {{320508, "姑苏区"},
      {320505, "虎丘区"},
      {320506, "吴中区"},
      {320509, "吴江区"},
      {320583, "昆山市"}}},
    {320600,
     "南通市",
     "南通",
     8,
     4,
     {{320613, "崇川区"}, {320612, "通州区"}, {320614, "海门区"}, {320682, "如皋市"}}},
    {320700,
     "连云港市",
     "连云港",
     4,
     3,
     {{320706, "海州区"}, {320703, "连云区"}, {320707, "赣榆区"}}},
    {320800,
     "淮安市",
     "淮安",
     5,
     3,
     {{320812, "清江浦区"}, {320803, "淮安区"}, {320804, "淮阴区"}}},
    {320900,
     "盐城市",
     "盐城",
     6,
     4,
     {{320902, "亭湖区"}, {320903, "盐都区"}, {320904, "大丰区"}, {320981, "东台市"}}},
    {321000, "扬州市", "扬州", 5, 3, {{321002, "广陵区"}, {321003, "邗江区"}, {321012, "江都区"}}},
    {321100, "镇江市", "镇江", 4, 3, {{321102, "京口区"}, {321111, "润州区"}, {321181, "丹阳市"}}},
    {321200, "泰州市", "泰州", 5, 3, {{321202, "海陵区"}, {321204, "姜堰区"}, {321282, "靖江市"}}},
    {321300, "宿迁市", "宿迁", 4, 3, {{321302, "宿城区"}, {321311, "宿豫区"}, {321322, "沭阳县"}}},
};

/* How each city keeps up with the plan: its members and activities are its
 * weight times this, against targets shared out by its workforce (weight
 * times noise, orgs.c). Suzhou and Nanjing ahead, Lianyungang, Suqian and
 * Zhenjiang behind, the others near the pace. */
const double city_pace[N_CITIES] = {
    1.10, /* 南京 */ 1.05, /* 无锡 */ 0.95, /* 徐州 */ 1.00, /* 常州 */ 1.12, /* 苏州 */
    1.00, /* 南通 */ 0.82, /* 连云港 */ 0.92, /* 淮安 */ 0.97, /* 盐城 */ 1.02, /* 扬州 */
    0.86, /* 镇江 */ 1.06, /* 泰州 */ 0.84, /* 宿迁 */
};

/* The five new-employment-form groups: an industry union per city each, and
 * platform-enterprise unions of their main platforms. wf: workers of the
 * group in Jiangsu per member of the plan's scale (workforce estimates). */
const struct group_def groups[N_MAIN_GROUPS] = {
    {LEDGER__WORKER_GROUP__TRUCK_DRIVER,
     "truck",
     "货车司机行业工会",
     15,
     1.10,
     2,
     {{"huolala", "货拉拉", 60}, {"manbang", "满帮", 40}}},
    {LEDGER__WORKER_GROUP__RIDE_HAILING_DRIVER,
     "ridehail",
     "网约车司机行业工会",
     17,
     0.80,
     3,
     {{"didi", "滴滴出行", 60}, {"caocao", "曹操出行", 20}, {"t3", "T3出行", 20}}},
    {LEDGER__WORKER_GROUP__COURIER,
     "courier",
     "快递行业工会",
     22,
     0.90,
     3,
     {{"sf-express", "顺丰速运", 30}, {"zto", "中通快递", 40}, {"jd-logistics", "京东物流", 30}}},
    {LEDGER__WORKER_GROUP__DELIVERY_RIDER,
     "rider",
     "网约配送员行业工会",
     30,
     1.20,
     2,
     {{"meituan", "美团", 65}, {"ele.me", "饿了么", 35}}},
    {LEDGER__WORKER_GROUP__LIVE_STREAMER,
     "streamer",
     "网络主播行业工会",
     8,
     1.50,
     2,
     {{"douyin", "抖音", 60}, {"kuaishou", "快手", 40}}},
};

/* The rest of Jiangsu's "eight groups" and others: 8% of the members. */
const struct other_group other_groups[N_OTHER_GROUPS] = {
    {LEDGER__WORKER_GROUP__CARE_WORKER, 2},
    {LEDGER__WORKER_GROUP__DOMESTIC_WORKER, 2},
    {LEDGER__WORKER_GROUP__MALL_INFORMATION_WORKER, 1},
    {LEDGER__WORKER_GROUP__REAL_ESTATE_AGENT, 1},
    {LEDGER__WORKER_GROUP__SECURITY_GUARD, 1},
    {LEDGER__WORKER_GROUP__OTHER_GROUP, 1},
};

/* Regional unions per county ("small three levels"); COMMUNITY sits under
 * STREET, the others under the county federation. */
const struct regional_def regional_defs[N_REGIONAL] = {
    {"street", "街道（乡镇）新就业形态劳动者联合工会", LEDGER__REGIONAL_LEVEL__TOWNSHIP, 45},
    {"market", "商圈联合工会", LEDGER__REGIONAL_LEVEL__BUSINESS_DISTRICT, 20},
    {"park", "园区联合工会", LEDGER__REGIONAL_LEVEL__DEVELOPMENT_ZONE, 10},
    {"community", "社区联合工会", LEDGER__REGIONAL_LEVEL__VILLAGE, 25},
};

/* Enterprise unions founded during the window, per city (employers of
 * drivers and riders with a labour relation; the names are made up). */
const struct enterprise_def enterprise_defs[N_ENTERPRISES] = {
    {G_TRUCK, "顺程货运有限公司工会"},
    {G_RIDER, "安达同城配送有限公司工会"},
    {G_RIDEHAIL, "畅行汽车服务有限公司工会"},
};

/* Birthplaces of the synthetic national ids outside Jiangsu (workers come
 * from the neighbouring provinces too). */
const uint32_t outside_birthplaces[N_OUTSIDE_BIRTHPLACES] = {340102, 340104, 341202, 410102,
                                                             411602, 371302, 330106, 310104};
