"""The kit for driver authors: what every IO backend of the sans-IO core needs, and its test.

* :mod:`sansio_registry_driverkit.files` answers ``file://`` requests (lookaside signature
  storage) from the local file system: call :func:`~sansio_registry_driverkit.files.file_exchange`
  from your driver, as the contract in :mod:`sansio_registry` says.
* :mod:`sansio_registry_driverkit.conformance` is the conformance suite: scripted servers on
  loopback sockets that check your driver against that contract, with a transcript diff.

These modules do IO (files, loopback sockets, threads), which is why they live outside the pure
core (``sansio_registry``, which never does) and outside its in-memory test doubles
(``sansio_registry.testing``). Use them if you write a driver (``trio_backend`` and
``examples/sync_driver.py`` do); an application using an existing backend never needs them.
"""
