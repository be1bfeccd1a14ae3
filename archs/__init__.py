"""Network architectures (``srstream.archs``): torch ``nn.Module`` generators and discriminators.

Imported only by ``srstream.trainer``, ``srstream.export`` and the optional torch reference
backend; never by the core or the engine.
"""
