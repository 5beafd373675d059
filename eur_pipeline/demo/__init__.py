"""The demo kit, apart from the product's plugins: an embedded SFTP server (``sftp_server``), a
generator of realistic archives (``generate``, written by ``avaya_writer``), a sample directory and
rate plans (``sample_billing``), and ``eur-pipeline demo`` itself (``run``)."""
