// HTTP/2 flow-control windows sized for blocks.
//
// HTTP/2 opens every stream (and connection) with a 64 KB receive window, and neither grpc-js
// side raises it unless told to. A 400 KB block, whether in a Raft MsgApp to a follower or in a
// Deliver response to a peer, then crosses in about seven pieces, each waiting for a
// WINDOW_UPDATE, i.e. for a turn of the receiver's event loop and then of the sender's. On
// loaded orderers that turned one block transfer into tens of milliseconds of the benchmark's
// latency. A window is a ceiling on unread data, not an allocation. On the servers it is also how
// much a client can make the orderer buffer on a stream it has paused (a Broadcast stream under
// backpressure), so the per-stream window is 2 MB (a block of PreferredMaxBytes fits) and only the
// connection's is 8 MB; grpc-go, which Fabric uses, grows its windows up to 16 MB.
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

export const HTTP2_WINDOW_BYTES = 8 * 1024 * 1024;
export const HTTP2_SERVER_STREAM_WINDOW_BYTES = 2 * 1024 * 1024;

/** Channel option for clients that receive blocks (Deliver): stream and connection windows. */
export const BLOCK_RECEIVER_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc-node.flow_control_window': HTTP2_WINDOW_BYTES };

/**
 * grpc-js has no server option for the receive window, so this widens it on every new HTTP/2
 * session of the server's listeners. Call it after bindAsync. If grpc-js's internals change
 * shape it does nothing, and the defaults stay (slower, still correct).
 */
export function widenServerWindows(server: grpc.Server, streamWindowBytes = HTTP2_SERVER_STREAM_WINDOW_BYTES, connectionWindowBytes = HTTP2_WINDOW_BYTES): void {
  const listeners: unknown = Reflect.get(server, 'http2Servers');
  if (!(listeners instanceof Map)) return;
  for (const listener of listeners.keys()) {
    if (!(listener instanceof EventEmitter) || Reflect.get(listener, 'widenedWindows') === true) continue;
    Reflect.set(listener, 'widenedWindows', true);
    listener.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.settings({ initialWindowSize: streamWindowBytes });
        session.setLocalWindowSize(connectionWindowBytes);
      } catch {
        // A session that is already closing keeps its defaults.
      }
    });
  }
}
