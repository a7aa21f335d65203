"""gim_faust.transforms"""
