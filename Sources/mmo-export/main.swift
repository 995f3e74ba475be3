// Placeholder until the tool lands in this branch.
import MMOToolSupport
printError("mmo-export: not built yet")
