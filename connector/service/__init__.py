"""The service: one sync cycle (pull -> store -> evaluate -> plan -> outbox -> deliver), the daemon,
logging. The only place where helpdesks (`adapters`) and SLAs (`core`) meet.
"""
