// Placeholder until the tool lands in this branch.
import MMOToolSupport
printError("mmo-eval: not built yet")
