/* POSIX port: host health figures for discovery's announcements (free memory, load). Linux reads /proc/meminfo; elsewhere sysconf and getloadavg where available. */
#include "chum/err.h"
#include "chum/port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (f) {
    char line[128];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    if (kb) return (uint64_t)kb * 1024u;
  }
#if defined(_SC_AVPHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (uint64_t)pages * (uint64_t)size;
#endif
  return 0;
}

static unsigned load_percent(void) {
  FILE *f = fopen("/proc/loadavg", "r");
  double l1 = -1;
  if (f) {
    if (fscanf(f, "%lf", &l1) != 1) l1 = -1;
    fclose(f);
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (l1 < 0 || cpus <= 0) return 0;
  double pct = l1 * 100.0 / (double)cpus;
  return pct > 100000.0 ? 100000u : (unsigned)(pct + 0.5);
}

int chum_port_sys_stats(chum_sys_stats *out) {
  memset(out, 0, sizeof *out);
  out->mem_free = mem_available();
  out->load_pct = load_percent();
  return out->mem_free || out->load_pct ? 0 : CHUM_ERR_IO;
}
