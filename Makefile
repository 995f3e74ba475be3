# The two entry points README gives, plus helpers. Both install what they need first.
SWIFT_RELEASE = swift build -c release
.PHONY: demo test build bench

demo:
	tools/setup
	$(SWIFT_RELEASE) --product mmo-train
	.build/release/mmo-train

test:
	tools/setup --python
	swift test -c release -Xswiftc -enable-testing

build:
	tools/setup
	$(SWIFT_RELEASE)

bench:
	tools/setup
	$(SWIFT_RELEASE) --product mmo-bench
	.build/release/mmo-bench
