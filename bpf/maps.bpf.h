/* Shared by the BPF programs: the map accesses every program does the same way. */
#ifndef GILSTAT_MAPS_BPF_H
#define GILSTAT_MAPS_BPF_H

/* Adds 1 to counter `idx` of `counters`, a per-CPU array of __u64 (health counters). Atomic:
 * a program can be preempted by another task running the same program on that CPU. */
static __always_inline void gilstat_count(void *counters, __u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(counters, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* The value of `key` in the hash `map`, created from `zero` when missing (by this or, at the
 * same time, another CPU); NULL when it could not be created (the map is full). */
static __always_inline void *gilstat_lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */)
		return 0;
	return bpf_map_lookup_elem(map, key);
}

#endif /* GILSTAT_MAPS_BPF_H */
