"""The kit for driver authors: what every IO backend of the sans-IO core needs, and its test.

* :mod:`sansio_registry_driverkit.files` answers ``file://`` requests (lookaside signature
  storage) from the local file system: call :func:`~sansio_registry_driverkit.files.file_exchange`
  from your driver, as the contract in :mod:`sansio_registry` says.
* :mod:`sansio_registry_driverkit.h11_helpers` is the pure half of an h11 driver: the request
  as sent, the head as the core reads it, a body buffered up to ``max_body``.
* :mod:`sansio_registry_driverkit.conformance` is the conformance suite: scripted servers on
  loopback sockets that check your driver against that contract, with a transcript diff.

``files`` and ``conformance`` do IO (files, loopback sockets, threads), which is why they live
outside the pure core (``sansio_registry``, which never does) and outside its in-memory test
doubles (``sansio_registry.testing``). Use them if you write a driver (``trio_backend`` and the
``examples`` drivers do); an application using an existing backend never needs them.
"""
