// One end of a connection's Unix socket: the fd and its event-loop watcher. The
// socket lives as long as the connection; its hang-up is how each side learns of the
// other's death, even by kill -9.

import { native, Poll, type FdWatcher } from "../native.js";

export const READABLE = 1;
export const HANGUP = 4;

export class Link {
  private watcher: FdWatcher | undefined;
  private closed = false;
  /** Called from the event loop while the socket is readable or hung up. */
  onEvent: (events: number) => void = () => {};

  constructor(readonly fd: number) {}

  /** Starts watching (unref'd: a link never keeps the process alive by itself). */
  watch(): void {
    if (this.watcher || this.closed) return;
    this.watcher = new native.FdWatcher(this.fd, (events) => this.onEvent(events));
  }

  /** Keeps the process alive while watching (a listening server). */
  ref(): void {
    this.watcher?.ref();
  }

  /** Stops watching; the fd stays open (a synchronous caller polls it instead). */
  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** True when the peer has hung up (one poll(2), no waiting). */
  peerGone(): boolean {
    return (native.pollFd(this.fd, Poll.RDHUP, 0) & (Poll.RDHUP | Poll.HUP | Poll.ERR)) !== 0;
  }

  send(bytes: Uint8Array, fds?: number[]): boolean {
    return native.sendPacket(this.fd, bytes, fds);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops watching and closes the socket: the peer sees the hang-up. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    this.onEvent = () => {};
    native.closeFd(this.fd);
  }
}
