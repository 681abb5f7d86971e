/*
 * A do-nothing libgupnp-igd-1.0.so.4, for test/integration/whip-gstreamer.test.ts.
 *
 * Why: Debian bookworm's simple-whip-client (whip-client) links libsoup-2.4.
 * Its webrtcbin loads libnice, which links libgupnp-igd-1.0 -> libgupnp-1.6 ->
 * libsoup-3.0, and libsoup-3.0's constructor aborts any process that already
 * holds libsoup-2.4 ("libsoup2 symbols detected. Using libsoup2 and libsoup3
 * in the same process is not supported", SIGTRAP, exit 133). libnice uses
 * gupnp-igd only to map ports on a UPnP router, and carries on without it when
 * gupnp_simple_igd_thread_new() returns NULL. The test compiles this file
 * (cc -shared -fPIC, soname libgupnp-igd-1.0.so.4) into a temporary directory
 * and puts that first on whip-client's LD_LIBRARY_PATH, so the real library,
 * and with it libsoup-3.0, is never loaded. Nothing is installed anywhere.
 *
 * These are the symbols libnice 0.1.21 takes from the library (plus the
 * constructors and GType getters, in case another version asks for them).
 */
#include <stddef.h>

typedef unsigned long GType;

void *gupnp_simple_igd_thread_new(void) { return NULL; }
void *gupnp_simple_igd_new(void) { return NULL; }
GType gupnp_simple_igd_get_type(void) { return 0; }
GType gupnp_simple_igd_thread_get_type(void) { return 0; }

void gupnp_simple_igd_add_port(void *igd, const char *protocol, unsigned external_port, const char *local_ip,
                               unsigned local_port, unsigned lease_duration, const char *description) {
  (void)igd; (void)protocol; (void)external_port; (void)local_ip; (void)local_port; (void)lease_duration; (void)description;
}

void gupnp_simple_igd_remove_port(void *igd, const char *protocol, unsigned external_port) {
  (void)igd; (void)protocol; (void)external_port;
}

void gupnp_simple_igd_remove_port_local(void *igd, const char *protocol, const char *local_ip, unsigned local_port) {
  (void)igd; (void)protocol; (void)local_ip; (void)local_port;
}

void gupnp_simple_igd_delete_all_mappings(void *igd) { (void)igd; }
