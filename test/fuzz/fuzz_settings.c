/*
 * fuzz_settings.c - libFuzzer: any value for any setting. The first byte
 * picks the setting, the rest is its value. Parsing must never crash or
 * leak, and an accepted value must land in range.
 */
#include <stdlib.h>
#include <string.h>

#include "../../kvmc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char *const names[] = {
	"node-id", "group", "port", "ttl", "interface", "log-level",
	"hello-interval", "check-window", "sim-delay", "sim-loss", "sim-seed",
	"ordering", "sequencer",
};

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *name;
	struct settings set;
	char *value;
	size_t i;

	if (size < 1 || size > 4096)
		return 0;
	name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
	value = malloc(size);
	if (value == NULL)
		return 0;
	memcpy(value, data + 1, size - 1);
	value[size - 1] = '\0';
	settings_defaults(&set);
	if (settings_set(&set, name, value) == 0) {
		if (!msg_valid_node_id(set.node_id, strlen(set.node_id)) &&
		    set.node_id[0] != '\0')
			abort();
		if (set.net.port == 0 || set.net.ttl > 255 ||
		    set.check_window < 1 || set.check_window > 60000 ||
		    set.hello_interval > 3600000 || set.sim.loss < 0 ||
		    set.sim.loss > 1)
			abort();
		for (i = 0; i < set.sim.nrules; i++)
			if (set.sim.rules[i].min > set.sim.rules[i].max ||
			    set.sim.rules[i].max > SIM_DELAY_MAX)
				abort();
	}
	sim_free(&set.sim);
	free(value);
	return 0;
}
