// Node `ws` echo server on 127.0.0.1 for bench/bench_ws.c (npm ws, locked in tests/interop-node). Prints its port,
// echoes every message, exits on the message "__quit__" or after 120 s.
const path = require('path');
const WS = require('ws'); // NODE_PATH=tests/interop-node/node_modules (npm ci)
const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1 << 20, perMessageDeflate: false });
wss.on('listening', () => { console.log(wss.address().port); });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === '__quit__') process.exit(0);
    ws.send(data, { binary: isBinary });
  });
});
setTimeout(() => process.exit(0), 120000).unref();
