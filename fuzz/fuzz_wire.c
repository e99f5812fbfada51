/* fuzz_wire.c — libFuzzer entry point of fuzz_wire (harness.h). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_wire(data, size);
}
