// The orderer benchmark's baseline: an AtomicBroadcast server whose Broadcast answers SUCCESS to
// every envelope without looking at it (Deliver is UNIMPLEMENTED). The same load generator
// sends to it, so its rate is what the client, gRPC and loopback alone allow on this machine.
//
// Run as its own process: `node orderer-bench-sink.js --port N`; prints "listening N" and
// serves until SIGTERM/SIGINT.
import * as grpc from '@grpc/grpc-js';
import { common, type orderer } from '../../protos';
import {
  addAtomicBroadcastService,
  atomicBroadcastServerOptions,
  bindServer,
  failCall,
  writeWithBackpressure,
  type BroadcastCall,
} from '../../orderer/grpc-service';

const SUCCESS: orderer.BroadcastResponseInit = Object.freeze({ status: common.Status.SUCCESS });

/** Answers each envelope as it arrives; pauses reading while the answers cannot be written. */
function ackAll(call: BroadcastCall): Promise<void> {
  return new Promise<void>((resolve) => {
    let writing = Promise.resolve(true);
    call.on('data', () => {
      if (call.write(SUCCESS)) return;
      call.pause();
      writing = writeWithBackpressure(call, SUCCESS).then((ok) => {
        call.resume();
        return ok;
      });
    });
    call.on('end', () => {
      void writing.then(() => {
        call.end();
        resolve();
      });
    });
    call.on('error', () => resolve());
    call.on('close', () => resolve());
  });
}

export function startAckSink(address: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(atomicBroadcastServerOptions());
  addAtomicBroadcastService(server, {
    broadcast: ackAll,
    deliver: async (call) => failCall(call, grpc.status.UNIMPLEMENTED, 'the benchmark sink only acknowledges Broadcast'),
  });
  return bindServer(server, address).then((port) => ({ server, port }));
}

async function main(argv: string[]): Promise<void> {
  const portIndex = argv.indexOf('--port');
  const port = portIndex >= 0 ? Number(argv[portIndex + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port takes a port number');
  const { server, port: bound } = await startAckSink(`127.0.0.1:${port}`);
  console.log(`listening ${bound}`);
  const stop = (): void => {
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
