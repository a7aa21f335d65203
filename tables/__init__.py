"""gim_faust.tables"""
