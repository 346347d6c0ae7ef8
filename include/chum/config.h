/* chum: compile-time limits and defaults.
 *
 * Override any value with -DNAME=value, or put them in a user config file and build with
 * -DCHUM_USER_CONFIG=/path/to/file.h (CMake: -DCHUM_USER_CONFIG=...). The user file is
 * included first; every value below is only a default (lwIP opt.h style).
 *
 * Units are in the names: _MS milliseconds, _SIZE/_BYTES bytes, _COUNT items.
 * "F" marks values fixed by ONE/LAMA (changing them breaks interop), "D" our design. */
#ifndef CHUM_CONFIG_H
#define CHUM_CONFIG_H

#ifdef CHUM_USER_CONFIG_FILE
#include CHUM_USER_CONFIG_FILE
#endif

/* ---- WebSocket layer (src/ws, src/link): the seed's values ------------------------------- */

/* D: bytes of the fixed receive buffer of one WebSocket connection. */
#ifndef CHUM_WS_RX_BUFFER_SIZE
#define CHUM_WS_RX_BUFFER_SIZE 4096
#endif
/* D: bytes of the fixed transmit buffer of one WebSocket connection. */
#ifndef CHUM_WS_TX_BUFFER_SIZE
#define CHUM_WS_TX_BUFFER_SIZE 4096
#endif
/* D: largest WebSocket message (payload bytes) delivered whole to a plain link; beyond it the
 * application chooses close 1009 or the streaming API. */
#ifndef CHUM_WS_MAX_FRAME_SIZE
#define CHUM_WS_MAX_FRAME_SIZE 8192
#endif
/* F (derived): largest WebSocket message of a ONE session: one encrypted frame =
 * 65 536 (fragment) + 256 (padding) + 16 (MAC). spec/connection.md, numbers.md. */
#ifndef CHUM_ONE_MAX_FRAME_SIZE
#define CHUM_ONE_MAX_FRAME_SIZE 65808
#endif
/* D: messages held by a link's send queue while disconnected or congested. */
#ifndef CHUM_MAX_QUEUED_MESSAGES
#define CHUM_MAX_QUEUED_MESSAGES 50
#endif
/* D: interval between WebSocket pings from the link, ms. */
#ifndef CHUM_PING_INTERVAL_MS
#define CHUM_PING_INTERVAL_MS 5000
#endif
/* D: a pong later than this after its ping counts as missed, ms. */
#ifndef CHUM_PONG_TIMEOUT_MS
#define CHUM_PONG_TIMEOUT_MS 2000
#endif
/* D: consecutive missed pongs after which the peer is declared dead. */
#ifndef CHUM_PONG_MISSES_MAX
#define CHUM_PONG_MISSES_MAX 3
#endif
/* D: first reconnect delay (the base of the exponential backoff), ms. */
#ifndef CHUM_RECONNECT_INTERVAL_MS
#define CHUM_RECONNECT_INTERVAL_MS 5000
#endif
/* D: cap of the reconnect backoff, ms. */
#ifndef CHUM_RECONNECT_MAX_INTERVAL_MS
#define CHUM_RECONNECT_MAX_INTERVAL_MS 120000
#endif
/* D: a connection that stayed up this long resets the backoff, ms. */
#ifndef CHUM_RECONNECT_STABLE_MS
#define CHUM_RECONNECT_STABLE_MS 30000
#endif
/* D: reconnect attempts before an ERROR event. */
#ifndef CHUM_MAX_RECONNECT_ATTEMPTS
#define CHUM_MAX_RECONNECT_ATTEMPTS 5
#endif
/* D: delay before a failed send is retried, ms. */
#ifndef CHUM_MESSAGE_RETRY_INTERVAL_MS
#define CHUM_MESSAGE_RETRY_INTERVAL_MS 1000
#endif
/* D: retries of one failed send before it is reported failed. */
#ifndef CHUM_MESSAGE_MAX_RETRIES
#define CHUM_MESSAGE_MAX_RETRIES 3
#endif
/* D: ESP32 port: time allowed for Wi-Fi to associate and get an address, ms. */
#ifndef CHUM_WIFI_TIMEOUT_MS
#define CHUM_WIFI_TIMEOUT_MS 10000
#endif
/* D: clients one link server accepts at once. */
#ifndef CHUM_MAX_SERVER_CLIENTS
#define CHUM_MAX_SERVER_CLIENTS 16
#endif
/* D: bytes of an HTTP upgrade request or response head. */
#ifndef CHUM_HTTP_HEAD_MAX
#define CHUM_HTTP_HEAD_MAX 2048
#endif
/* D: after our close frame, time allowed for the peer's, ms (then the link drops it). */
#ifndef CHUM_WS_CLOSE_TIMEOUT_MS
#define CHUM_WS_CLOSE_TIMEOUT_MS 3000
#endif
/* D: bytes of message payload a link's send queue holds in total (with
 * CHUM_MAX_QUEUED_MESSAGES, whichever fills first). */
#ifndef CHUM_LINK_QUEUE_BYTES
#define CHUM_LINK_QUEUE_BYTES (64u * 1024u)
#endif
/* D: trusted root certificates (PEM) for wss:// when none is given. */
#ifndef CHUM_TLS_CA_FILE
#define CHUM_TLS_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#endif
/* D: senders whose last message id a link remembers for de-duplication (persistent mode). */
#ifndef CHUM_LINK_DEDUP_SENDERS
#define CHUM_LINK_DEDUP_SENDERS 16
#endif

/* ---- ONE session (src/conn) ------------------------------------------------------------ */

/* D: time allowed for handshake steps 1-5, ms (none upstream). */
#ifndef CHUM_HANDSHAKE_TIMEOUT_MS
#define CHUM_HANDSHAKE_TIMEOUT_MS 10000
#endif
/* F: WebSocket open timeout when dialling, ms. */
#ifndef CHUM_WS_OPEN_TIMEOUT_MS
#define CHUM_WS_OPEN_TIMEOUT_MS 5000
#endif
/* F: send a keepalive this long after our last sent message, ms. */
#ifndef CHUM_KEEPALIVE_SEND_MS
#define CHUM_KEEPALIVE_SEND_MS 20000
#endif
/* F: the peer is dead this long after its last message, ms. */
#ifndef CHUM_KEEPALIVE_TIMEOUT_MS
#define CHUM_KEEPALIVE_TIMEOUT_MS 25000
#endif
/* F: largest piece of a fragmented message, bytes. */
#ifndef CHUM_FRAGMENT_CHUNK_SIZE
#define CHUM_FRAGMENT_CHUNK_SIZE 65536
#endif
/* D: largest reassembled message, bytes (16 MiB Linux; use 256 KiB on an ESP32). */
#ifndef CHUM_MAX_MESSAGE_SIZE
#define CHUM_MAX_MESSAGE_SIZE (16u * 1024u * 1024u)
#endif
/* F: duplicate-connection drop window, ms. */
#ifndef CHUM_DUPLICATE_WINDOW_MS
#define CHUM_DUPLICATE_WINDOW_MS 2000
#endif
/* D: bytes of a session's queue of encrypted frames waiting for the WebSocket. A message
 * larger than this goes through chum_conn_send_begin/piece/end (use 160 KiB on an ESP32). */
#ifndef CHUM_CONN_TX_QUEUE_SIZE
#define CHUM_CONN_TX_QUEUE_SIZE (2u * 1024u * 1024u)
#endif
/* F: reconnect after an established session closed: base of 5000 x (1 + random), ms. */
#ifndef CHUM_CONN_RECONNECT_BASE_MS
#define CHUM_CONN_RECONNECT_BASE_MS 5000
#endif
/* F (policy): retry a failed comm-server spare after this long, ms. */
#ifndef CHUM_RELAY_RETRY_MS
#define CHUM_RELAY_RETRY_MS 10000
#endif
/* F: spares kept per comm server and key. */
#ifndef CHUM_RELAY_SPARES
#define CHUM_RELAY_SPARES 2
#endif
/* F: a comm server pings each spare this long after its last pong, ms (spec/commserver.md §4). */
#ifndef CHUM_COMMSERVER_PING_INTERVAL_MS
#define CHUM_COMMSERVER_PING_INTERVAL_MS 25000
#endif
/* F: a comm server terminates a spare whose pong is this late, ms (§4, §7). */
#ifndef CHUM_COMMSERVER_PONG_TIMEOUT_MS
#define CHUM_COMMSERVER_PONG_TIMEOUT_MS 1000
#endif
/* D: WebSockets a comm server holds at once (spares, relayed pairs, new ones). */
#ifndef CHUM_COMMSERVER_MAX_CLIENTS
#define CHUM_COMMSERVER_MAX_CLIENTS 64
#endif
/* D: known peers a node keeps. */
#ifndef CHUM_MAX_KNOWN_PEERS
#define CHUM_MAX_KNOWN_PEERS 64
#endif

/* ---- pairing --------------------------------------------------------------------------- */

/* F (default): invitation validity, ms. */
#ifndef CHUM_INVITE_TTL_MS
#define CHUM_INVITE_TTL_MS 60000
#endif
/* D: wait for 'synchronisation' after pairing, ms. */
#ifndef CHUM_PAIRING_SYNC_WAIT_MS
#define CHUM_PAIRING_SYNC_WAIT_MS 2000
#endif
/* D: after pairing, the peer may refuse our first chum sessions once or twice ("Unable to
 * start chum because you are unknown": it has not stored us yet, spec/pairing.md §2). Such a
 * refusal is retried after this long instead of the backoff, ms ... */
#ifndef CHUM_PAIRING_UNKNOWN_RETRY_MS
#define CHUM_PAIRING_UNKNOWN_RETRY_MS 1000
#endif
/* D: ... at most this many times in a row (then the backoff of spec/connection.md §10). */
#ifndef CHUM_PAIRING_UNKNOWN_RETRIES
#define CHUM_PAIRING_UNKNOWN_RETRIES 3
#endif
/* D: open invitations (tokens) an inviter keeps at once. */
#ifndef CHUM_PAIR_MAX_TOKENS
#define CHUM_PAIR_MAX_TOKENS 32
#endif
/* D: longest invitation text (JSON or URL) we parse, bytes. */
#ifndef CHUM_PAIR_INVITATION_MAX
#define CHUM_PAIR_INVITATION_MAX 4096
#endif
/* D: the invitation URL before '#' (the apps' form: spec/pairing.md §1). */
#ifndef CHUM_PAIR_URL_BASE
#define CHUM_PAIR_URL_BASE "https://edda.one/invites/invitePartner/?invited=true"
#endif

/* ---- RPC and chum (src/rpc, src/chum) -------------------------------------------------- */

/* D: an RPC request without an answer fails after this long, ms (none upstream). */
#ifndef CHUM_RPC_TIMEOUT_MS
#define CHUM_RPC_TIMEOUT_MS 120000
#endif
/* D: outstanding RPC requests per session. */
#ifndef CHUM_RPC_MAX_PENDING
#define CHUM_RPC_MAX_PENDING 64
#endif
/* F: keepRunning poll interval, ms. */
#ifndef CHUM_POLL_INTERVAL_MS
#define CHUM_POLL_INTERVAL_MS 5000
#endif
/* D: Access, IdAccess and Group objects an exporter keeps parsed (by hash: they never change)
 *    for the accessible-roots computation, about 110 bytes each; when full the cache is emptied
 *    and refilled. 0 turns it off (every pass reads and parses them). docs/sync.md. */
#ifndef CHUM_SYNC_POLICY_CACHE_MAX
#define CHUM_SYNC_POLICY_CACHE_MAX 8192
#endif
/* D: root hashes an importer remembers as stored for its session, so a keepRunning pass does
 *    not ask the store about each of thousands of roots again (about 40 bytes each). */
#ifndef CHUM_SYNC_PRESENT_MAX
#define CHUM_SYNC_PRESENT_MAX 16384
#endif
/* F: protocol-version retries while the peer answers UNKNOWN-SERVICE. */
#ifndef CHUM_VERSION_RETRIES
#define CHUM_VERSION_RETRIES 15
#endif
/* F: delay between those retries, ms. */
#ifndef CHUM_VERSION_RETRY_MS
#define CHUM_VERSION_RETRY_MS 300
#endif
/* D: BLOB chunk payload we send, bytes (any size is accepted). Node sends 65 536; we send
 * 65 528 so that chunk + 8-byte id prefix is one 65 536-byte message that one.models passes
 * through unfragmented (spec/rpc.md §6, chum.md "Behaviour of the real peers" 1). */
#ifndef CHUM_FILE_CHUNK_SIZE
#define CHUM_FILE_CHUNK_SIZE 65528
#endif
/* D: largest binary chunk payload an rpc may be configured to send, bytes. */
#ifndef CHUM_RPC_MAX_CHUNK_SIZE
#define CHUM_RPC_MAX_CHUNK_SIZE 65536
#endif
/* D: largest text stream message we send, in UTF-16 code units: one.models fragments strings
 * of 16 384 units or more (spec/rpc.md §6, numbers.md). */
#ifndef CHUM_RPC_TEXT_CHUNK_UNITS
#define CHUM_RPC_TEXT_CHUNK_UNITS 16000
#endif
/* D: bytes read from a CLOB source at a time for a text stream (per open text stream). */
#ifndef CHUM_RPC_TEXT_READ_SIZE
#define CHUM_RPC_TEXT_READ_SIZE 16384
#endif
/* D: largest RPC text message received or sent, bytes. */
#ifndef CHUM_RPC_MAX_MESSAGE_SIZE
#define CHUM_RPC_MAX_MESSAGE_SIZE CHUM_MAX_MESSAGE_SIZE
#endif
/* D: the peer's requests we hold open at once (handler running, answer queued or streaming);
 * one more closes the connection. */
#ifndef CHUM_RPC_MAX_SERVING
#define CHUM_RPC_MAX_SERVING 256
#endif
/* D: highest service id a handler may be registered for (chum uses 1-10). */
#ifndef CHUM_RPC_MAX_SERVICE_ID
#define CHUM_RPC_MAX_SERVICE_ID 16
#endif
/* D: most arguments of one request (chum's services take at most 2). */
#ifndef CHUM_RPC_MAX_ARGS
#define CHUM_RPC_MAX_ARGS 8
#endif
/* D: largest microdata object, bytes. */
#ifndef CHUM_MAX_OBJECT_SIZE
#define CHUM_MAX_OBJECT_SIZE (1024u * 1024u)
#endif
/* D: largest root list and children list. */
#ifndef CHUM_MAX_ROOTS
#define CHUM_MAX_ROOTS 100000
#endif
#ifndef CHUM_MAX_CHILDREN
#define CHUM_MAX_CHILDREN 100000
#endif
/* D: largest BLOB, bytes (1 GiB Linux; use 4 MiB on an ESP32). */
#ifndef CHUM_MAX_BLOB_SIZE
#define CHUM_MAX_BLOB_SIZE (1024ull * 1024ull * 1024ull)
#endif

/* ---- objects and store (src/object, src/store) ----------------------------------------- */

/* D: deepest nesting the microdata decoder accepts. */
#ifndef CHUM_MAX_NESTING_DEPTH
#define CHUM_MAX_NESTING_DEPTH 32
#endif
/* D: bytes of the buffer BLOB/CLOB streams and hashing pass data through. */
#ifndef CHUM_STREAM_BUFFER_SIZE
#define CHUM_STREAM_BUFFER_SIZE 4096
#endif
/* D: recipes a node holds (built-in + imported). */
#ifndef CHUM_MAX_RECIPES
#define CHUM_MAX_RECIPES 256
#endif
/* D: longest path the store builds (node dir + store/ + kind + 64-hex name), bytes. */
#ifndef CHUM_STORE_PATH_MAX
#define CHUM_STORE_PATH_MAX 512
#endif
/* D: longest ONE type name the store records (heads, reverse maps), bytes. */
#ifndef CHUM_STORE_TYPE_MAX
#define CHUM_STORE_TYPE_MAX 128
#endif
/* D: most version nodes walked for one ID hash (chum_store_version_nodes). */
#ifndef CHUM_STORE_MAX_VERSION_NODES
#define CHUM_STORE_MAX_VERSION_NODES 10000
#endif
/* D: head moves the head journal (store/heads.journal) remembers; a head index further behind
 *    re-reads every head once (docs/store.md "The head index"). 8..1024. */
#ifndef CHUM_STORE_HEAD_JOURNAL
#define CHUM_STORE_HEAD_JOURNAL 64
#endif
/* D: most heads a store handle's head index holds (about 70 bytes each, plus the hash table's
 *    slack); with more heads it is dropped and the access computation reads every head file at
 *    each pass, as without an index. 0 turns the index off. */
#ifndef CHUM_STORE_HEAD_INDEX_MAX
#define CHUM_STORE_HEAD_INDEX_MAX 16384
#endif
/* D: distinct data types the head index names (the rest are read from disk when asked). */
#ifndef CHUM_STORE_HEAD_INDEX_TYPES
#define CHUM_STORE_HEAD_INDEX_TYPES 32
#endif

/* ---- discovery (src/disc) -------------------------------------------------------------- */

/* F: LAMA DevicePresence UDP port. */
#ifndef CHUM_PRESENCE_PORT
#define CHUM_PRESENCE_PORT 49497
#endif
/* F: presence announcement period, ms. */
#ifndef CHUM_PRESENCE_PERIOD_MS
#define CHUM_PRESENCE_PERIOD_MS 5000
#endif
/* D: random extra delay added to each period, ms. */
#ifndef CHUM_PRESENCE_JITTER_MS
#define CHUM_PRESENCE_JITTER_MS 250
#endif
/* D: a peer path not refreshed for this long expires (3 periods), ms. */
#ifndef CHUM_PEER_EXPIRY_MS
#define CHUM_PEER_EXPIRY_MS 15000
#endif
/* D: largest presence datagram, bytes. */
#ifndef CHUM_PRESENCE_MAX_DATAGRAM
#define CHUM_PRESENCE_MAX_DATAGRAM 1472
#endif
/* D: accepted clock difference of signed announcements, ms. */
#ifndef CHUM_PRESENCE_FRESHNESS_MS
#define CHUM_PRESENCE_FRESHNESS_MS 300000
#endif
/* D: entries of the peer table. */
#ifndef CHUM_MAX_PEERS
#define CHUM_MAX_PEERS 64
#endif
/* D: interfaces discovery runs on at once. */
#ifndef CHUM_MAX_INTERFACES
#define CHUM_MAX_INTERFACES 8
#endif
/* F: LAMA forgets a device this long after its last presence, ms; we keep plain LAMA
 * devices in the display-only list for as long. */
#ifndef CHUM_LAMA_DEVICE_TIMEOUT_MS
#define CHUM_LAMA_DEVICE_TIMEOUT_MS 30000
#endif
/* D: name-compression pointers followed in one DNS name. */
#ifndef CHUM_DNS_MAX_POINTER_HOPS
#define CHUM_DNS_MAX_POINTER_HOPS 16
#endif

/* ---- node (src/node): identity, state file --------------------------------------------- */

/* D: longest person e-mail, bytes (RFC 5321 path limit). */
#ifndef CHUM_NODE_EMAIL_MAX
#define CHUM_NODE_EMAIL_MAX 254
#endif
/* D: longest instance name, bytes. */
#ifndef CHUM_NODE_NAME_MAX
#define CHUM_NODE_NAME_MAX 128
#endif
/* D: recent errors kept in the state file for `chum status`. */
#ifndef CHUM_NODE_MAX_ERRORS
#define CHUM_NODE_MAX_ERRORS 8
#endif
/* D: longest remembered error message, bytes (with the NUL). */
#ifndef CHUM_NODE_ERROR_TEXT_MAX
#define CHUM_NODE_ERROR_TEXT_MAX 160
#endif
/* D: largest node.json / identity.secret.json / state.json accepted, bytes. */
#ifndef CHUM_NODE_FILE_MAX
#define CHUM_NODE_FILE_MAX 16384
#endif
/* D: largest run-status.json accepted (chum status), bytes. */
#ifndef CHUM_RUN_STATUS_FILE_MAX
#define CHUM_RUN_STATUS_FILE_MAX (256u * 1024u)
#endif
/* D: known peers and sessions listed in run-status.json. */
#ifndef CHUM_RUN_STATUS_MAX_PEERS
#define CHUM_RUN_STATUS_MAX_PEERS 16
#endif
#ifndef CHUM_RUN_STATUS_MAX_SESSIONS
#define CHUM_RUN_STATUS_MAX_SESSIONS 16
#endif
/* D: `chum run` pings each ready session this often to measure its round-trip time, ms. */
#ifndef CHUM_RUN_RTT_PING_MS
#define CHUM_RUN_RTT_PING_MS 10000
#endif
/* D: a running node saves its state file at least this often, ms. */
#ifndef CHUM_NODE_STATE_SAVE_MS
#define CHUM_NODE_STATE_SAVE_MS 10000
#endif
/* D: capabilities a new node advertises (CHUM_NODE_CAP_* bits: 1 chum8, 2 pair, 4 relay,
 * 8 topo, 16 wss; spec/discovery.md chumCaps). */
#ifndef CHUM_NODE_DEFAULT_CAPS
#define CHUM_NODE_DEFAULT_CAPS 0x03u
#endif

/* ---- logging ------------------------------------------------------------------------- */

/* D: longest formatted log line, bytes. */
#ifndef CHUM_LOG_LINE_MAX
#define CHUM_LOG_LINE_MAX 512
#endif

#endif /* CHUM_CONFIG_H */
