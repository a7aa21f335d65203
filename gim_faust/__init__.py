"""gim-faust: a historical-reporting back end for contact centers.

Three services share this package: the Config Adapter (``gim_faust.gca``), the Stream
Processor (``gim_faust.gsp``) and the Info Mart loader (``gim_faust.gim``). The pure rules live
in ``gim_faust.transforms``; Faust table specs in ``gim_faust.tables``; database work in
``gim_faust.loaders``.
"""

__version__ = "0.1.0"
