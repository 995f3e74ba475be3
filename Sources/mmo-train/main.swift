print("mmo-train: not built yet")
