/*
 * labels.h — the Chinese names of the values of ledger.proto's enums: worker
 * groups, join paths and channels, employment relations, the reasons of
 * transfers, ends and waivers, kinds of organisations, services, activities
 * and stations, and the like. One table, read both ways: a collective
 * registration list and a command line may give a value by its Chinese name
 * (ldc_enum_parse, parse.h, accepts them), and the programs show them in
 * Chinese mode (ld_i18n_zh, i18n.h).
 *
 * A value may have several Chinese names (网约配送员, 网约送餐员, 外卖骑手):
 * the first is the one shown, all are accepted. Part of the client library.
 */
#ifndef LD_LABELS_H
#define LD_LABELS_H

#include <stddef.h>

#include "ledger.pb-c.h"

/* The value of d whose Chinese names include text exactly; 0 and *out, or
 * -1 if none. */
int ldc_label_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out);

/* The Chinese name shown for value v of d; NULL if the table has none. */
const char *ldc_label_zh(const ProtobufCEnumDescriptor *d, int v);

/*
 * How a program shows value v of d to people: its Chinese name in Chinese
 * mode (when the table has one), else its name as the command line takes it,
 * lowercase with dashes ("delivery-rider"); an unknown value as its number.
 * Returns out (size bytes, always terminated) or a static string.
 */
const char *ldc_enum_label(const ProtobufCEnumDescriptor *d, int v, char *out, size_t size);

/*
 * How a member's history names a kind of event (its body case): in Chinese
 * mode its Chinese name (入会, 转出), from the rows of EventType in the same
 * table; else its canonical name ("member_joined", kinds.h).
 */
const char *ldc_kind_label(int body_case);

#endif
