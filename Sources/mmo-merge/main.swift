// Placeholder until the tool lands in this branch.
import MMOToolSupport
printError("mmo-merge: not built yet")
