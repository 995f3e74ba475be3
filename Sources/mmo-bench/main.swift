print("mmo-bench: not built yet")
