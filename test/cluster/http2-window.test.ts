// The orderer's gRPC servers announce a block-sized HTTP/2 stream window. grpc-js has no option
// for it, so widenServerWindows reaches into its listeners; if a grpc-js upgrade changes them,
// the servers silently fall back to 64 KB windows (and block transfers slow down), which this
// test catches.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { HTTP2_SERVER_STREAM_WINDOW_BYTES } from '../../cluster/http2-window';
import { bindServer } from '../../orderer/grpc-service';

test('a bound orderer server announces a 2 MB stream window to a new HTTP/2 connection', async () => {
  const server = new grpc.Server();
  const port = await bindServer(server, '127.0.0.1:0');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    let timer: NodeJS.Timeout | undefined;
    const windowBytes = await new Promise<number | undefined>((resolve, reject) => {
      session.on('error', reject);
      // The server's SETTINGS frame with the window follows its initial one.
      session.on('remoteSettings', (settings) => {
        if (settings.initialWindowSize !== 65_535) resolve(settings.initialWindowSize);
      });
      timer = setTimeout(() => resolve(session.remoteSettings.initialWindowSize), 2_000);
    });
    clearTimeout(timer);
    expect(windowBytes).toBe(HTTP2_SERVER_STREAM_WINDOW_BYTES);
  } finally {
    session.destroy();
    server.forceShutdown();
  }
});
