"""gim_faust.loaders"""
