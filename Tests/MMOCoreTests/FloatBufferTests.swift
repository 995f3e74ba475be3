// FloatBuffer's allocation contract: zeroed, 64-byte aligned, and from `hugePageThreshold` up
// aligned to a 2 MiB huge page (so that the kernel can back it with transparent huge pages).
import XCTest

@testable import MMOCore

final class FloatBufferTests: XCTestCase {
    func testSmallAndLargeBuffersAreZeroedAndAligned() {
        for count in [0, 1, 17, 4096, FloatBuffer.hugePageThreshold / 4 - 1, FloatBuffer.hugePageThreshold / 4, 3_000_001] {
            let buffer = FloatBuffer(count: count)
            let address = Int(bitPattern: buffer.pointer)
            XCTAssertEqual(address % 64, 0, "\(count) elements: 64-byte aligned")
            if count * 4 >= FloatBuffer.hugePageThreshold {
                XCTAssertEqual(address % FloatBuffer.hugePage, 0, "\(count) elements: huge-page aligned")
            }
            XCTAssertTrue((0..<count).allSatisfy { buffer.pointer[$0].bitPattern == 0 }, "\(count) elements: zeroed")
            if count > 0 {
                buffer.pointer[count - 1] = 3  // the last element is inside the allocation
                XCTAssertEqual(buffer[count - 1], 3)
            }
        }
    }
}
