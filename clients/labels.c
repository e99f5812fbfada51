/* labels.c — the Chinese names of enum values. See labels.h. */
#include "labels.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "i18n.h"
#include "parse.h"

struct label {
	const ProtobufCEnumDescriptor *d;
	int value;
	const char *zh;   /* the name shown */
	const char *also; /* other names accepted, '|' between */
};

#define L(en, V, zh, also) {&ledger__##en##__descriptor, V, zh, also}

static const struct label labels[] = {
    /* Worker groups: Jiangsu's "eight groups" and the others. */
    L(worker_group, LEDGER__WORKER_GROUP__TRUCK_DRIVER, "货车司机", ""),
    L(worker_group, LEDGER__WORKER_GROUP__RIDE_HAILING_DRIVER, "网约车司机", ""),
    L(worker_group, LEDGER__WORKER_GROUP__COURIER, "快递员", "快递小哥"),
    L(worker_group, LEDGER__WORKER_GROUP__DELIVERY_RIDER, "网约配送员",
      "网约送餐员|外卖骑手|外卖送餐员"),
    L(worker_group, LEDGER__WORKER_GROUP__LIVE_STREAMER, "网络主播", "主播"),
    L(worker_group, LEDGER__WORKER_GROUP__CARE_WORKER, "护工护理员", "护工|护理员"),
    L(worker_group, LEDGER__WORKER_GROUP__DOMESTIC_WORKER, "家政服务员", ""),
    L(worker_group, LEDGER__WORKER_GROUP__MALL_INFORMATION_WORKER, "商场信息员", ""),
    L(worker_group, LEDGER__WORKER_GROUP__REAL_ESTATE_AGENT, "房产中介员", "房产中介"),
    L(worker_group, LEDGER__WORKER_GROUP__SECURITY_GUARD, "保安员", ""),
    L(worker_group, LEDGER__WORKER_GROUP__OTHER_GROUP, "其他群体", "其他"),

    L(join_path, LEDGER__JOIN_PATH__LABOUR_RELATION, "劳动关系", "有劳动关系"),
    L(join_path, LEDGER__JOIN_PATH__PLATFORM_WORK, "平台就业", "依托平台就业|平台"),
    L(join_path, LEDGER__JOIN_PATH__DISPATCHED, "劳务派遣", ""),

    L(join_channel, LEDGER__JOIN_CHANNEL__ONLINE, "线上", "网上|扫码|线上扫码"),
    L(join_channel, LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION, "集体登记", ""),
    L(join_channel, LEDGER__JOIN_CHANNEL__MOBILE_WINDOW, "流动窗口", ""),
    L(join_channel, LEDGER__JOIN_CHANNEL__WORKER_MEETING, "沟通会现场", "沟通会"),
    L(join_channel, LEDGER__JOIN_CHANNEL__CEREMONY, "集中入会仪式", "入会仪式"),

    L(employment_relation, LEDGER__EMPLOYMENT_RELATION__EMPLOYED, "劳动关系",
      "有劳动关系|建立劳动关系|全日制用工"),
    L(employment_relation, LEDGER__EMPLOYMENT_RELATION__PARTIAL, "不完全劳动关系",
      "不完全符合确立劳动关系情形"),
    L(employment_relation, LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED, "个体经营", "个体|自雇"),
    L(employment_relation, LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR, "劳务派遣", "派遣"),

    L(affiliation_kind, LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION, "平台入会", ""),
    L(affiliation_kind, LEDGER__AFFILIATION_KIND__RESIDENCE_AFFILIATION, "驻地入会", ""),

    L(transfer_reason, LEDGER__TRANSFER_REASON__EMPLOYER_UNION_FOUNDED, "用人单位建会", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER, "更换用人单位", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__CHANGED_PLATFORM, "更换平台", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__MOVED_REGION, "迁居", "迁移居住地"),
    L(transfer_reason, LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION, "变更职业", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__ORGANISATION_DISSOLVED, "组织撤销", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__ORGANISATION_MERGED, "组织合并", ""),
    L(transfer_reason, LEDGER__TRANSFER_REASON__OTHER_TRANSFER, "其他转会原因", ""),

    L(end_reason, LEDGER__END_REASON__LEFT, "退会", ""),
    L(end_reason, LEDGER__END_REASON__DECEASED, "去世", ""),
    L(end_reason, LEDGER__END_REASON__EXPELLED, "除名", ""),
    L(end_reason, LEDGER__END_REASON__LEFT_SECTOR, "离开本行业", ""),
    L(end_reason, LEDGER__END_REASON__RETIRED, "退休", ""),
    L(end_reason, LEDGER__END_REASON__OTHER_END, "其他终止原因", ""),

    L(dissolve_reason, LEDGER__DISSOLVE_REASON__DISSOLVED, "撤销", ""),
    L(dissolve_reason, LEDGER__DISSOLVE_REASON__MERGED, "合并", ""),

    L(waiver_reason, LEDGER__WAIVER_REASON__HARDSHIP, "生活困难", ""),
    L(waiver_reason, LEDGER__WAIVER_REASON__UNEMPLOYED, "失业", ""),
    L(waiver_reason, LEDGER__WAIVER_REASON__ILLNESS, "患病", ""),
    L(waiver_reason, LEDGER__WAIVER_REASON__POLICY_EXEMPTION, "政策减免", ""),
    L(waiver_reason, LEDGER__WAIVER_REASON__OTHER_WAIVER, "其他减免原因", ""),

    L(payment_method, LEDGER__PAYMENT_METHOD__CASH, "现金", ""),
    L(payment_method, LEDGER__PAYMENT_METHOD__BANK_TRANSFER, "银行转账", ""),
    L(payment_method, LEDGER__PAYMENT_METHOD__WECHAT_PAY, "微信支付", "微信"),
    L(payment_method, LEDGER__PAYMENT_METHOD__ALIPAY, "支付宝", ""),
    L(payment_method, LEDGER__PAYMENT_METHOD__PAYROLL_DEDUCTION, "工资代扣", ""),
    L(payment_method, LEDGER__PAYMENT_METHOD__PLATFORM_DEDUCTION, "平台代扣", ""),

    L(fund_purpose, LEDGER__FUND_PURPOSE__DUES_SHARE, "会费分成", ""),
    L(fund_purpose, LEDGER__FUND_PURPOSE__FUNDING_ALLOCATION, "经费拨缴", ""),
    L(fund_purpose, LEDGER__FUND_PURPOSE__SUBSIDY, "补助", ""),
    L(fund_purpose, LEDGER__FUND_PURPOSE__SERVICE_FUNDING, "服务经费", ""),
    L(fund_purpose, LEDGER__FUND_PURPOSE__OTHER_PURPOSE, "其他用途", ""),

    L(service_kind, LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, "走访慰问", "慰问|送温暖"),
    L(service_kind, LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE, "互助保障", "专项保险"),
    L(service_kind, LEDGER__SERVICE_KIND__LEGAL_AID, "法律援助", ""),
    L(service_kind, LEDGER__SERVICE_KIND__LEGAL_CONSULTATION, "法律咨询", ""),
    L(service_kind, LEDGER__SERVICE_KIND__LEGAL_HEALTH_CHECK, "法治体检", ""),
    L(service_kind, LEDGER__SERVICE_KIND__EDUCATION_GRANT, "学历教育资助", ""),
    L(service_kind, LEDGER__SERVICE_KIND__SKILL_UPGRADE, "技能提升", ""),
    L(service_kind, LEDGER__SERVICE_KIND__HEALTH_CHECK, "健康体检", ""),
    L(service_kind, LEDGER__SERVICE_KIND__PSYCHOLOGICAL_COUNSELLING, "心理咨询", ""),
    L(service_kind, LEDGER__SERVICE_KIND__HARDSHIP_RELIEF, "困难帮扶", ""),
    L(service_kind, LEDGER__SERVICE_KIND__STATION_SERVICE, "驿站服务", ""),
    L(service_kind, LEDGER__SERVICE_KIND__OTHER_SERVICE, "其他服务", ""),

    L(activity_kind, LEDGER__ACTIVITY_KIND__SERVICE_FAIR, "服务集市", "“8+X”服务集市"),
    L(activity_kind, LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY, "主题活动", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__MODEL_WORKER_CAMPUS, "劳模工匠进校园", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__LEGAL_AID_OUTREACH, "法律援助宣传", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION, "国家安全教育", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__WORKER_MEETING_HELD, "沟通会", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__JOIN_CEREMONY, "集中入会仪式", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__ENTERPRISE_VISIT, "走访企业", ""),
    L(activity_kind, LEDGER__ACTIVITY_KIND__OTHER_ACTIVITY, "其他活动", ""),

    L(station_kind, LEDGER__STATION_KIND__LOVE_STATION, "工会爱心驿站", "爱心驿站"),
    L(station_kind, LEDGER__STATION_KIND__DRIVER_HOME, "司机之家", ""),
    L(station_kind, LEDGER__STATION_KIND__RIDER_HOME, "骑手之家", ""),
    L(station_kind, LEDGER__STATION_KIND__OUTDOOR_WORKER_STATION, "户外劳动者服务站点", ""),
    L(station_kind, LEDGER__STATION_KIND__DEMONSTRATION_SERVICE_CENTRE, "示范性服务中心", ""),

    L(org_kind, LEDGER__ORG_KIND__FEDERATION_PROVINCE, "省级联合会", ""),
    L(org_kind, LEDGER__ORG_KIND__FEDERATION_CITY, "市级联合会", ""),
    L(org_kind, LEDGER__ORG_KIND__FEDERATION_COUNTY, "县级联合会", ""),
    L(org_kind, LEDGER__ORG_KIND__INDUSTRY_UNION, "行业工会", ""),
    L(org_kind, LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, "平台企业工会", ""),
    L(org_kind, LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION, "关联企业工会", ""),
    L(org_kind, LEDGER__ORG_KIND__ENTERPRISE_UNION, "用人单位工会", ""),
    L(org_kind, LEDGER__ORG_KIND__REGIONAL_UNION, "区域性工会", "联合工会"),

    L(regional_level, LEDGER__REGIONAL_LEVEL__TOWNSHIP, "乡镇（街道）", "乡镇|街道"),
    L(regional_level, LEDGER__REGIONAL_LEVEL__VILLAGE, "村（社区）", "村|社区"),
    L(regional_level, LEDGER__REGIONAL_LEVEL__DEVELOPMENT_ZONE, "园区", "开发区"),
    L(regional_level, LEDGER__REGIONAL_LEVEL__BUILDING, "楼宇", ""),
    L(regional_level, LEDGER__REGIONAL_LEVEL__BUSINESS_DISTRICT, "商圈", ""),

    L(member_status, LEDGER__MEMBER_STATUS__ACTIVE, "在会", ""),
    L(member_status, LEDGER__MEMBER_STATUS__ENDED, "已终止", ""),

    L(transfer_direction, LEDGER__TRANSFER_DIRECTION__INTO, "转入", ""),
    L(transfer_direction, LEDGER__TRANSFER_DIRECTION__OUT_OF, "转出", ""),
    L(transfer_direction, LEDGER__TRANSFER_DIRECTION__WITHIN, "内部", ""),

    L(progress_status, LEDGER__PROGRESS_STATUS__NOT_STARTED, "未开始", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__AHEAD, "超前", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__ON_TRACK, "符合进度", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__BEHIND, "落后", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__ACHIEVED, "已完成", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__MISSED, "未完成", ""),
    L(progress_status, LEDGER__PROGRESS_STATUS__NO_TARGET, "无目标", ""),

    /* Kinds of event (EventType: its values are the body cases), as a
     * member's history names them (ldc_kind_label). */
    L(event_type, LEDGER__EVENT_TYPE__ORG_REGISTERED, "登记组织", ""),
    L(event_type, LEDGER__EVENT_TYPE__ORG_UPDATED, "变更组织信息", ""),
    L(event_type, LEDGER__EVENT_TYPE__ORG_DISSOLVED, "撤销组织", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBER_JOINED, "入会", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBER_AFFILIATED, "挂靠", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBER_DISAFFILIATED, "结束挂靠", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBER_TRANSFERRED, "转会", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBERSHIP_ENDED, "终止会籍", ""),
    L(event_type, LEDGER__EVENT_TYPE__PROFILE_CHANGED, "变更会员信息", ""),
    L(event_type, LEDGER__EVENT_TYPE__MEMBER_FORGOTTEN, "遗忘个人信息", ""),
    L(event_type, LEDGER__EVENT_TYPE__TRANSFER_RELEASED, "转出", ""),
    L(event_type, LEDGER__EVENT_TYPE__TRANSFER_ACCEPTED, "转入", ""),
    L(event_type, LEDGER__EVENT_TYPE__DUES_PAID, "缴纳会费", ""),
    L(event_type, LEDGER__EVENT_TYPE__DUES_WAIVED, "减免会费", ""),
    L(event_type, LEDGER__EVENT_TYPE__DUES_REFUNDED, "退还会费", ""),
    L(event_type, LEDGER__EVENT_TYPE__FUNDS_ALLOCATED, "经费往来", ""),
    L(event_type, LEDGER__EVENT_TYPE__SERVICE_DELIVERED, "提供服务", ""),
    L(event_type, LEDGER__EVENT_TYPE__ACTIVITY_HELD, "举办活动", ""),
    L(event_type, LEDGER__EVENT_TYPE__STATION_OPENED, "开设服务站点", ""),
    L(event_type, LEDGER__EVENT_TYPE__WORKFORCE_ESTIMATED, "从业人员估算", ""),
    L(event_type, LEDGER__EVENT_TYPE__EVENT_VOIDED, "作废", ""),
    L(event_type, LEDGER__EVENT_TYPE__EVENT_AMENDED, "更正", ""),
};

#define NLABELS (sizeof(labels) / sizeof(labels[0]))

/* Whether text is one of the '|'-separated names in list. */
static int names_have(const char *list, const char *text)
{
	size_t n = strlen(text);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && n && !memcmp(p, text, n))
			return 1;
		p += len + (p[len] == '|');
	}
	return 0;
}

int ldc_label_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out)
{
	for (size_t i = 0; text && i < NLABELS; i++)
		if (labels[i].d == d &&
		    (!strcmp(labels[i].zh, text) || names_have(labels[i].also, text))) {
			*out = labels[i].value;
			return 0;
		}
	return -1;
}

const char *ldc_label_zh(const ProtobufCEnumDescriptor *d, int v)
{
	for (size_t i = 0; i < NLABELS; i++)
		if (labels[i].d == d && labels[i].value == v)
			return labels[i].zh;
	return NULL;
}

const char *ldc_kind_label(int body_case)
{
	const char *zh =
	    ld_i18n_zh() ? ldc_label_zh(&ledger__event_type__descriptor, body_case) : NULL;
	return zh ? zh : codec_event_type_name(body_case);
}

const char *ldc_enum_label(const ProtobufCEnumDescriptor *d, int v, char *out, size_t size)
{
	const char *zh = ld_i18n_zh() ? ldc_label_zh(d, v) : NULL;
	if (zh)
		return zh;
	const char *name = ldc_enum_name(d, v);
	if (!name) {
		snprintf(out, size, "%d", v);
		return out;
	}
	size_t i = 0;
	for (; name[i] && i + 1 < size; i++)
		out[i] =
		    name[i] == '_'
		        ? '-'
		        : (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	out[i] = '\0';
	return out;
}
