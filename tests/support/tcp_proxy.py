"""A TCP proxy on 127.0.0.1 in front of a real server, which drops connections at chosen moments:
`drop_when(b"pattern", times)` cuts the connection whose client sends the pattern, the next
`times` times it does (the server never sees that command).

`DroppingProxy(target_port)`; `.port`; `.dropped` (how many connections it cut); `close()`.
"""

from __future__ import annotations

import socket
import threading


class DroppingProxy:
    def __init__(self, target_port: int):
        self.target = target_port
        self.rules: list[list] = []  # [pattern, times left]
        self.dropped = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_when(self, pattern: bytes, times: int = 1) -> None:
        with self.lock:
            self.rules.append([pattern, times])

    def _should_drop(self, data: bytes) -> bool:
        with self.lock:
            for rule in self.rules:
                if rule[1] > 0 and rule[0] in data:
                    rule[1] -= 1
                    self.dropped += 1
                    return True
        return False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._should_drop(data):
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self.listener.close()
