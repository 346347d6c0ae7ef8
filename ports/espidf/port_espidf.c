/* ESP-IDF port: clock, randomness, hardware ID, free space and Wi-Fi bring-up.
 *
 * Files and sockets come from ports/posix/fs.c and ports/posix/net.c, which run unchanged on
 * ESP-IDF's VFS (LittleFS/SPIFFS) and lwIP's BSD sockets. This file replaces
 * ports/posix/clock.c and ports/posix/hwid.c. Built by ports/espidf/CMakeLists.txt as an
 * ESP-IDF component; not part of the host build (no ESP-IDF toolchain in CI). */
#include "chum/config.h"
#include "chum/err.h"
#include "chum/port.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "esp_event.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"

#if __has_include("esp_littlefs.h")
#include "esp_littlefs.h"
#define CHUM_HAVE_LITTLEFS 1
#endif

uint64_t chum_port_now_ms(void) { return (uint64_t)esp_timer_get_time() / 1000u; }
uint64_t chum_port_now_us(void) { return (uint64_t)esp_timer_get_time(); }

uint64_t chum_port_wall_ms(void) {
  struct timeval tv;
  if (gettimeofday(&tv, NULL) != 0) return 0;
  /* Before SNTP has run the clock sits near 1970: report "not set". */
  if (tv.tv_sec < 1600000000) return 0;
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

int chum_port_random(void *buf, size_t len) {
  /* The hardware RNG is a CSPRNG while Wi-Fi or Bluetooth is on, or after
   * bootloader_random_enable(); bring the radio up before creating keys. */
  esp_fill_random(buf, len);
  return 0;
}

int chum_port_hwid(const char *iface, chum_hwid *out) {
  (void)iface; /* one factory MAC per chip, whatever the interface */
  if (!out) return CHUM_ERR_INVAL;
  memset(out, 0, sizeof *out);
  if (esp_efuse_mac_get_default(out->bytes) != ESP_OK) return CHUM_ERR_NOTFOUND;
  out->len = 6;
  snprintf(out->source, sizeof out->source, "efuse");
  return 0;
}

int chum_port_free_space(const char *path, uint64_t *free_bytes) {
  (void)path;
#ifdef CHUM_HAVE_LITTLEFS
  size_t total = 0, used = 0;
  if (esp_littlefs_info(CHUM_ESPIDF_FS_LABEL, &total, &used) != ESP_OK) return CHUM_ERR_IO;
  *free_bytes = total - used;
  return 0;
#else
  *free_bytes = 0;
  return CHUM_ERR_UNSUPPORTED;
#endif
}

/* ---- Wi-Fi station bring-up -------------------------------------------------------------- */

#define WIFI_UP_BIT BIT0
#define WIFI_FAIL_BIT BIT1
static EventGroupHandle_t s_wifi_events;

static void on_wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data) {
  (void)arg;
  (void)data;
  if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
    esp_wifi_connect();
  } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
    xEventGroupSetBits(s_wifi_events, WIFI_FAIL_BIT);
  } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
    xEventGroupSetBits(s_wifi_events, WIFI_UP_BIT);
  }
}

int chum_port_wifi_up(const char *ssid, const char *password, uint32_t timeout_ms) {
  if (!ssid || strlen(ssid) >= 32 || (password && strlen(password) >= 64)) return CHUM_ERR_INVAL;
  if (!s_wifi_events) {
    s_wifi_events = xEventGroupCreate();
    if (!s_wifi_events) return CHUM_ERR_NOMEM;
    if (esp_netif_init() != ESP_OK) return CHUM_ERR_NETWORK;
    esp_err_t e = esp_event_loop_create_default();
    if (e != ESP_OK && e != ESP_ERR_INVALID_STATE) return CHUM_ERR_NETWORK;
    esp_netif_create_default_wifi_sta();
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    if (esp_wifi_init(&cfg) != ESP_OK) return CHUM_ERR_NETWORK;
    esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi_event, NULL);
    esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi_event, NULL);
  }
  wifi_config_t wc;
  memset(&wc, 0, sizeof wc);
  memcpy(wc.sta.ssid, ssid, strlen(ssid));
  if (password) memcpy(wc.sta.password, password, strlen(password));
  xEventGroupClearBits(s_wifi_events, WIFI_UP_BIT | WIFI_FAIL_BIT);
  esp_wifi_set_mode(WIFI_MODE_STA);
  esp_wifi_set_config(WIFI_IF_STA, &wc);
  if (esp_wifi_start() != ESP_OK) return CHUM_ERR_NETWORK;
  EventBits_t bits = xEventGroupWaitBits(s_wifi_events, WIFI_UP_BIT | WIFI_FAIL_BIT, pdFALSE,
                                         pdFALSE, pdMS_TO_TICKS(timeout_ms));
  if (bits & WIFI_UP_BIT) return 0;
  return (bits & WIFI_FAIL_BIT) ? CHUM_ERR_CONNECT : CHUM_ERR_TIMEOUT;
}

int chum_port_sys_stats(chum_sys_stats *out) {
  memset(out, 0, sizeof *out);
  out->mem_free = esp_get_free_heap_size();
  return 0;
}
