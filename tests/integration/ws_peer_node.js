// Node `ws` (npm ws, locked in tests/interop-node) as an independent peer for tests/integration/ws_echo.sh.
//   node ws_peer_node.js client URL        echo round trips against a chum echo server
//   node ws_peer_node.js server PORTFILE N echo server; exits 0 after N messages and a 1000 close
// 127.0.0.1 only; every wait has a timeout.
const WS = require('ws'); // NODE_PATH=tests/interop-node/node_modules (npm ci)
const fs = require('fs');
const fail = (m) => { console.log('FAIL: ' + m); process.exit(1); };
setTimeout(() => fail('timeout'), 20000).unref();

const [mode, arg, count] = process.argv.slice(2);
if (mode === 'client') {
  const ws = new WS(arg, { perMessageDeflate: false });
  const msgs = ['hello', 'ünïcödé ✓', 'x'.repeat(126), 'y'.repeat(7000), Buffer.from([0, 1, 255]),
                Buffer.alloc(65535 > 8000 ? 8000 : 65535, 7)];
  let i = 0;
  ws.on('open', () => ws.send(msgs[0]));
  ws.on('message', (data, isBinary) => {
    const want = msgs[i];
    const ok = Buffer.isBuffer(want) ? (isBinary && Buffer.compare(data, want) === 0)
                                     : (!isBinary && data.toString() === want);
    if (!ok) fail('echo ' + i + ' differs');
    i++;
    if (i < msgs.length) { ws.send(msgs[i]); return; }
    ws.ping(Buffer.from('still there?'));
  });
  ws.on('pong', (d) => { if (d.toString() !== 'still there?') fail('pong payload'); ws.close(1000, 'done'); });
  ws.on('close', (code) => {
    if (code !== 1000) fail('close code ' + code);
    if (i !== msgs.length) fail('only ' + i + ' echoes');
    console.log('ok - node ws client <-> chum ws serve --echo (' + i + ' messages, ping, close 1000)');
    process.exit(0);
  });
  ws.on('error', (e) => fail(String(e)));
} else if (mode === 'server') {
  const want = parseInt(count, 10);
  let n = 0;
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('listening', () => fs.writeFileSync(arg, String(wss.address().port)));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => { n++; ws.send(data, { binary: isBinary }); });
    ws.on('close', (code) => {
      if (code !== 1000) fail('chum client closed with ' + code);
      if (n !== want) fail('got ' + n + ' messages, want ' + want);
      console.log('ok - chum ws connect <-> node ws server (' + n + ' messages, close 1000)');
      process.exit(0);
    });
  });
} else {
  fail('usage');
}
