// Runs once before the suites: fail fast, with the fix spelled out, when no Redis answers.
const net = require('node:net');

module.exports = async function globalSetup() {
  const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  const port = Number(url.port || 6379);
  await new Promise((resolve, reject) => {
    const sock = net.connect({ host: url.hostname, port }, () => {
      sock.end();
      resolve();
    });
    sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
    sock.on('error', (err) =>
      reject(new Error(`The tests need Redis at ${url.host} (${err.message}). Start one with: redis-server --port ${port} --save "" --daemonize yes`)),
    );
  });
};
