"""The GIM service shell: the Info Mart loader worker (``gim-faust gim worker``).

The database side (staging, upserts, offsets, migrations) lives in ``gim_faust.loaders``;
this package only consumes, batches, retries and reports.
"""
