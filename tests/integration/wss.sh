#!/usr/bin/env bash
# wss:// (TLS) wherever the node dials, against a real OpenSSL server: a small TLS terminator
# (tls_proxy.py, Python ssl + asyncio) with a self-signed certificate made here forwards to
# a plain ws:// `chum run` node or `chum commserver` on 127.0.0.1, as nginx or a cloud load
# balancer would. Checks:
#   a. chum sync wss://localhost:PORT/ --once --ca cert.pem transfers a shared file;
#   b. chum run dials a known peer whose URL is wss:// and a file shared later arrives live;
#   c. chum run --commserver wss://… registers spares through TLS; another node syncs with it
#      through that relay (wss:// too);
#   d. chum pair with an invitation (chum invite --url wss://…) through the wss comm server;
#   e. an untrusted certificate (no --ca) is refused with the reason: chum sync exits 1, a
#      running node logs it, retries, and keeps running;
#   f. a name mismatch (wss://127.0.0.1 with a certificate for localhost) is refused;
#   and a --ca file that cannot be read as roots is a usage error (exit 2);
#   g. chum commserver --tls-cert/--tls-key serves wss:// itself (mbedTLS server): an OpenSSL
#      client verifies it and gets the WebSocket upgrade, a node registers there and another
#      syncs with it through it; a missing or mismatched key is a usage error.
# Everything stays on 127.0.0.1; every process is bounded by `timeout -k` and killed by the
# trap. Skips (77) without openssl or python3.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
B=${CHUM_BUILD_DIR:-$(dirname "$CHUM")}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARE="$B/tool_share"
command -v openssl > /dev/null || { echo "skip - openssl is missing"; exit 77; }
command -v python3 > /dev/null || { echo "skip - python3 is missing"; exit 77; }
[ -x "$SHARE" ] || { echo "skip - tool_share is not built"; exit 77; }
# temp dir, PIDS killed on exit, ok/bad counters (its c/wait_for are redefined below)
. "$(dirname "$0")/lib/common.sh"
tmp_setup
c() { timeout -k 2 40 "$CHUM" "$@"; }
pid_of() { sed -n 's/^ *"personId": *"\([0-9a-f]*\)".*/\1/p' "$1"; }
wait_for() { for _ in $(seq 1 750); do "$@" && return 0; sleep 0.02; done; return 1; }

# a self-signed certificate for localhost (CN and SAN), made now
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -keyout "$T/key.pem" -out "$T/cert.pem" > /dev/null 2>&1 || { echo "skip - openssl cannot make a certificate"; exit 77; }

start_proxy() { # $1 name, $2 target port; sets PPORT
  rm -f "$T/$1.port"
  timeout -k 2 150 python3 "$HERE/tls_proxy.py" "$T/$1.port" "$T/cert.pem" "$T/key.pem" "$2" 140 \
    > "$T/$1.out" 2>&1 &
  PIDS+=("$!")
  wait_for test -s "$T/$1.port" || { echo "TLS proxy $1 did not start:"; cat "$T/$1.out"; exit 1; }
  PPORT=$(cat "$T/$1.port")
}

for who in alice bob carol dave erin frank; do
  c --dir "$T/$who" init --email "$who@wss.test" > /dev/null || { echo "init $who failed"; exit 1; }
  c --dir "$T/$who" id --json > "$T/$who.id" || exit 1
done
ALICE=$(pid_of "$T/alice.id") BOB=$(pid_of "$T/bob.id") CAROL=$(pid_of "$T/carol.id")
DAVE=$(pid_of "$T/dave.id")

# ---- alice: a plain ws:// node behind the TLS terminator -----------------------------------
timeout -k 2 150 "$CHUM" --dir "$T/alice" run --listen 127.0.0.1:0 --no-dial --log "$T/alice.log" \
  > "$T/alice.out" 2>&1 &
PID_alice=$!
PIDS+=("$PID_alice")
wait_for grep -q "^listening ws://" "$T/alice.out" || { echo "alice did not start:"; cat "$T/alice.out"; exit 1; }
APORT=$(sed -n 's#^listening ws://127.0.0.1:\([0-9]*\)/.*#\1#p' "$T/alice.out")
start_proxy pa "$APORT"
AURL="wss://localhost:$PPORT/"
c --dir "$T/alice" peer add "$T/bob.id" > /dev/null || bad "alice adds bob"
c --dir "$T/bob" peer add "$T/alice.id" --url "$AURL" > /dev/null || bad "bob adds alice at $AURL"

# ---- a. chum sync wss:// --once --ca ----------------------------------------------------------
head -c 200000 /dev/urandom > "$T/one.bin"
read -r BLOB1 _ < <("$SHARE" "$T/alice" "$T/one.bin" "$BOB") || bad "tool_share 1"
if c --dir "$T/bob" sync "$AURL" --once --ca "$T/cert.pem" > "$T/a.out" 2>&1 \
   && cmp -s "$T/one.bin" "$T/bob/store/blobs/$BLOB1"; then
  ok "a. chum sync $AURL --once --ca: a 200 kB file arrived byte-identical through TLS"
else bad "a. sync over wss:"; cat "$T/a.out" "$T/pa.out"; tail -20 "$T/alice.log"; fi

# ---- e. an untrusted certificate (the system bundle does not know it) -------------------------
c --dir "$T/bob" sync "$AURL" --once > "$T/e.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "certificate refused: untrusted" "$T/e.out"; then
  ok "e. without --ca the self-signed certificate is refused: $(grep -m1 'sync did not complete' "$T/e.out" | sed 's/^chum: //')"
else bad "e. untrusted certificate: rc $rc"; cat "$T/e.out"; fi
# a --ca file that is not trusted roots is refused at once (usage error), not at each dial
c --dir "$T/bob" sync "$AURL" --once --ca "$T/nonexistent.pem" > "$T/e0.out" 2>&1; rc=$?
if [ $rc -eq 2 ] && grep -q "cannot read the trusted roots $T/nonexistent.pem" "$T/e0.out"; then
  ok "e. --ca with a missing file is a usage error naming the file"
else bad "e. --ca missing: rc $rc"; cat "$T/e0.out"; fi
# a running node logs the reason, retries like any failed dial, and keeps running
timeout -k 2 60 "$CHUM" --dir "$T/bob" run --log "$T/bob-e.log" > "$T/bob-e.out" 2>&1 &
PID_be=$!
PIDS+=("$PID_be")
if wait_for grep -q "next session with alice@wss.test in" "$T/bob-e.log" \
   && grep -q "cannot connect to $AURL: certificate refused: untrusted" "$T/bob-e.log"; then
  sleep 0.5
  if kill -0 "$PID_be" 2>/dev/null; then ok "e. chum run logs the refused certificate, schedules a retry and keeps running"
  else bad "e. chum run exited after a refused certificate"; cat "$T/bob-e.log"; fi
else bad "e. chum run with an untrusted certificate:"; cat "$T/bob-e.log" "$T/bob-e.out"; fi
kill -TERM "$PID_be" 2>/dev/null; wait "$PID_be" 2>/dev/null

# ---- f. a name mismatch: the certificate is for localhost, the URL says 127.0.0.1 -------------
c --dir "$T/dave" peer add "$T/alice.id" --url "wss://127.0.0.1:$PPORT/" > /dev/null || bad "dave adds alice"
c --dir "$T/alice" peer add "$T/dave.id" > /dev/null || bad "alice adds dave"
c --dir "$T/dave" sync "wss://127.0.0.1:$PPORT/" --once --ca "$T/cert.pem" > "$T/f.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "certificate refused: name mismatch (not issued for 127.0.0.1)" "$T/f.out"; then
  ok "f. a certificate for another name is refused: name mismatch"
else bad "f. name mismatch: rc $rc"; cat "$T/f.out"; fi

# ---- b. chum run dials a known peer at its wss:// URL ----------------------------------------
timeout -k 2 100 "$CHUM" --dir "$T/bob" run --ca "$T/cert.pem" --log "$T/bob.log" > "$T/bob.out" 2>&1 &
PID_bob=$!
PIDS+=("$PID_bob")
if wait_for grep -qs "chum started (keepRunning)" "$T/bob.log"; then
  printf 'shared while both run, over wss://\n' > "$T/live.txt"
  read -r BLOB2 _ < <("$SHARE" "$T/alice" "$T/live.txt" "$BOB") || bad "tool_share 2"
  if wait_for test -f "$T/bob/store/blobs/$BLOB2" && cmp -s "$T/live.txt" "$T/bob/store/blobs/$BLOB2"; then
    ok "b. chum run dials alice at $AURL (TLS) and a file shared later arrives live"
  else bad "b. live file over wss:"; cat "$T/bob.log"; fi
else bad "b. chum run did not reach alice over wss:"; cat "$T/bob.log"; fi
kill -TERM "$PID_bob" 2>/dev/null; wait "$PID_bob" 2>/dev/null

# ---- c. a comm server behind TLS: chum run --commserver wss://… ---------------------------------
timeout -k 2 150 "$CHUM" -v commserver --listen 127.0.0.1:0 > "$T/cs.out" 2>&1 &
PIDS+=("$!")
wait_for grep -q "^listening ws://" "$T/cs.out" || { echo "comm server did not start:"; cat "$T/cs.out"; exit 1; }
CS_PORT=$(sed -n 's#^listening ws://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$T/cs.out")
start_proxy pc "$CS_PORT"
CURL="wss://localhost:$PPORT/"
c --dir "$T/carol" peer add "$T/dave.id" > /dev/null || bad "carol adds dave"
timeout -k 2 100 "$CHUM" --dir "$T/carol" run --commserver "$CURL" --ca "$T/cert.pem" --no-dial \
  --log "$T/carol.log" > "$T/carol.out" 2>&1 &
PID_carol=$!
PIDS+=("$PID_carol")
if wait_for grep -q "comm server $CURL: registered" "$T/carol.out"; then ok "c. carol registered spares at the comm server through TLS ($CURL)"
else bad "c. carol did not register:"; cat "$T/carol.out" "$T/carol.log" "$T/cs.out" "$T/pc.out"; fi
c --dir "$T/carol" id --json > "$T/carol.id"
grep -q "\"url\": \"$CURL\"" "$T/carol.id" || bad "c. carol's URL is not the comm server's: $(grep url "$T/carol.id")"
c --dir "$T/dave" peer add "$T/carol.id" > /dev/null || bad "dave adds carol"
head -c 100000 /dev/urandom > "$T/three.bin"
read -r BLOB3 _ < <("$SHARE" "$T/carol" "$T/three.bin" "$DAVE") || bad "tool_share 3"
sleep 0.3
if c --dir "$T/dave" sync "$CAROL" --ca "$T/cert.pem" > "$T/c.out" 2>&1 \
   && cmp -s "$T/three.bin" "$T/dave/store/blobs/$BLOB3"; then
  ok "c. dave syncs with carol through the wss:// relay: the file arrived byte-identical"
else bad "c. sync through the wss relay:"; cat "$T/c.out" "$T/carol.log"; fi

# ---- d. chum pair through the wss:// comm server ------------------------------------------
sleep 0.3
c --dir "$T/carol" invite --url "$CURL" --json > "$T/inv.json" 2> "$T/inv.err" || { bad "d. invite:"; cat "$T/inv.err"; }
if c --dir "$T/erin" pair "$T/inv.json" --ca "$T/cert.pem" > "$T/d.out" 2>&1; then
  ok "d. erin pairs with carol using an invitation that names $CURL"
else bad "d. pair through the wss comm server:"; cat "$T/d.out" "$T/carol.log"; fi
ERIN=$(pid_of "$T/erin.id")
c --dir "$T/erin" peer list --json | grep -q "\"$CAROL\"" && c --dir "$T/carol" peer list --json | grep -q "\"$ERIN\"" \
  && ok "d. both know each other after pairing" || bad "d. peers not stored"
c --dir "$T/erin" pair "$T/inv.json" > "$T/d2.out" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "certificate refused: untrusted" "$T/d2.out"; then
  ok "d. chum pair without --ca refuses the certificate and exits $rc"
else bad "d. pair without --ca: rc $rc"; cat "$T/d2.out"; fi

echo "not a certificate" > "$T/junk.pem"
c --dir "$T/erin" pair "$T/inv.json" --ca "$T/junk.pem" > "$T/d3.out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "cannot read the trusted roots" "$T/d3.out" \
  && ok "d. chum pair --ca with a file that is not PEM roots is a usage error" || { bad "d. pair --ca junk: rc $rc"; cat "$T/d3.out"; }

# ---- g. chum commserver serving wss:// itself (--tls-cert/--tls-key, mbedTLS server) ----------
timeout -k 2 100 "$CHUM" -v commserver --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
  > "$T/cs2.out" 2>&1 &
PIDS+=("$!")
if wait_for grep -q "^listening wss://" "$T/cs2.out"; then
  GPORT=$(sed -n 's#^listening wss://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$T/cs2.out")
  GURL="wss://localhost:$GPORT/"
  ok "g. chum commserver --tls-cert --tls-key prints 'listening wss://127.0.0.1:$GPORT/'"
  # an OpenSSL client: refuses the self-signed certificate without it, then with it gets the upgrade
  if python3 - "$GPORT" "$T/cert.pem" > "$T/g-py.out" 2>&1 <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        ssl.create_default_context().wrap_socket(s, server_hostname="localhost")
    print("untrusted certificate accepted"); sys.exit(1)
except ssl.SSLCertVerificationError:
    pass
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname="localhost") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        r = t.recv(4096)
        print(t.version(), r.split(b"\r\n")[0].decode())
        sys.exit(0 if r.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in r else 1)
PY
  then ok "g. an OpenSSL client verifies the server's certificate and gets the WebSocket upgrade: $(cat "$T/g-py.out")"
  else bad "g. OpenSSL client against chum commserver --tls-cert:"; cat "$T/g-py.out" "$T/cs2.out"; fi
  c --dir "$T/frank" peer add "$T/bob.id" > /dev/null || bad "frank adds bob"
  timeout -k 2 60 "$CHUM" --dir "$T/frank" run --commserver "$GURL" --ca "$T/cert.pem" --no-dial \
    --log "$T/frank.log" > "$T/frank.out" 2>&1 &
  PID_frank=$!
  PIDS+=("$PID_frank")
  if wait_for grep -q "comm server $GURL: registered" "$T/frank.out"; then
    c --dir "$T/frank" id --json > "$T/frank.id"
    c --dir "$T/bob" peer add "$T/frank.id" > /dev/null || bad "bob adds frank"
    head -c 50000 /dev/urandom > "$T/four.bin"
    read -r BLOB4 _ < <("$SHARE" "$T/frank" "$T/four.bin" "$BOB") || bad "tool_share 4"
    sleep 0.3
    if c --dir "$T/bob" sync "$(pid_of "$T/frank.id")" --ca "$T/cert.pem" > "$T/g.out" 2>&1 \
       && cmp -s "$T/four.bin" "$T/bob/store/blobs/$BLOB4"; then
      ok "g. frank registered at the mbedTLS wss:// comm server; bob syncs with frank through it"
    else bad "g. sync through chum commserver --tls-cert:"; cat "$T/g.out" "$T/frank.log" "$T/cs2.out"; fi
  else bad "g. frank did not register at $GURL:"; cat "$T/frank.out" "$T/frank.log" "$T/cs2.out"; fi
  kill -TERM "$PID_frank" 2>/dev/null; wait "$PID_frank" 2>/dev/null
else bad "g. chum commserver --tls-cert did not start:"; cat "$T/cs2.out"; fi
c commserver --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" > "$T/g2.out" 2>&1; rc=$?
[ $rc -eq 2 ] && ok "g. --tls-cert without --tls-key is a usage error" || bad "g. --tls-cert alone: rc $rc"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=other \
  -keyout "$T/key2.pem" -out "$T/cert2.pem" > /dev/null 2>&1
c commserver --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key2.pem" > "$T/g3.out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "does not belong to" "$T/g3.out" && ok "g. a key that does not belong to the certificate is refused" \
  || { bad "g. mismatched key: rc $rc"; cat "$T/g3.out"; }

kill -TERM "$PID_carol" "$PID_alice" 2>/dev/null
wait "$PID_carol" "$PID_alice" 2>/dev/null
echo "# wss: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
