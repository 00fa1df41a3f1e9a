"""The diagnostician: probes a mail organisation over the network only.

Nothing in this package imports ``lab``; it meets its target through DNS,
TCP, SMTP, IMAP, POP3, TLS and HTTP exactly as it would meet a real one.
"""
