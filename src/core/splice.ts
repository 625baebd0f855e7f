// Joins two sockets both ways. Either side closing or failing closes the other: a tunnel has no
// state worth keeping once one end is gone.
import type { Socket } from 'node:net';

export function splice(a: Socket, b: Socket, onClose?: () => void): void {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    a.destroy();
    b.destroy();
    onClose?.();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
  a.pipe(b);
  b.pipe(a);
}
