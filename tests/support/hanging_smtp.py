"""An SMTP server on 127.0.0.1 that takes a message's data and then never answers: the moment a
notice's outcome is unknown, held open. `HangingSmtp().start()`; `.port`; `.took_data` (an
Event set once a message's final dot arrived); `stop()`."""

from __future__ import annotations

import socket
import threading

from tests.support.dovecot import free_port


class HangingSmtp:
    def __init__(self):
        self.port = free_port()
        self.took_data = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._threads: list[threading.Thread] = []

    def start(self) -> HangingSmtp:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 hang.example ESMTP\r\n")
            for line in reader:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250-hang.example\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    for data in reader:
                        if data == b".\r\n":
                            break
                    self.took_data.set()
                    self._stop.wait()  # the message is taken; the answer never comes
                    return
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)
