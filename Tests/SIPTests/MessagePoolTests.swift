import Testing
import Foundation  // memcmp: the random test compares many megabytes, debug-built == is slow
@testable import SIP

/// The tests' seeded SplitMix64 (`SeededEntropy`) as a generator, so a failing random run
/// can be repeated.
private struct SeededGenerator: RandomNumberGenerator {
    var entropy: SeededEntropy
    init(state: UInt64) { entropy = SeededEntropy(state: state) }
    mutating func next() -> UInt64 { entropy.next() }
}

/// `count` bytes that differ from message to message (and from a zeroed block): a
/// congruential sequence seeded by `tag`.
private func message(_ count: Int, tag: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var state = UInt32(truncatingIfNeeded: tag) &* 2_654_435_761 &+ 1
        for i in 0..<count {
            state = state &* 1_103_515_245 &+ 12_345
            buffer[i] = UInt8(truncatingIfNeeded: state >> 16)
        }
        initialized = count
    }
}

/// Stores and checks messages by length and tag, so a failed expectation prints two numbers
/// rather than 64 KB of bytes.
private extension MessagePool {
    func store(_ length: Int, tag: Int) -> MessageHandle? {
        message(length, tag: tag).withUnsafeBytes { store($0) }
    }
    /// Whether `handle` reads back exactly the message `length` and `tag` stand for.
    func holds(_ handle: MessageHandle, _ length: Int, tag: Int) -> Bool {
        holds(handle, message(length, tag: tag))
    }
    func holds(_ handle: MessageHandle, _ expected: [UInt8]) -> Bool {
        let held = bytes(handle)
        guard held.count == expected.count && handle.length == expected.count else { return false }
        return expected.isEmpty || expected.withUnsafeBytes {
            memcmp($0.baseAddress!, held.baseAddress!, expected.count) == 0
        }
    }
}

/// The bytes a message of `length` bytes holds in the pool: whole 128-byte units.
private func heldSize(_ length: Int) -> Int { (length + 127) / 128 * 128 }

/// The order of the block a message of `length` bytes is cut from (128 << order bytes).
private func blockOrder(_ length: Int) -> Int {
    var order = 0
    while 128 << order < length { order += 1 }
    return order
}

struct MessagePoolTests {
    @Test func messagesOfEverySizeReadBackExactly() throws {
        let pool = MessagePool(bytes: 300_000)
        #expect(pool.capacity == 5 * 65_536)
        let sizes = [1, 256, 257, 1000, 2100, 8000, 60000, 65535]
        var handles: [MessageHandle] = []
        for (tag, size) in sizes.enumerated() {
            let handle = try #require(pool.store(size, tag: tag))
            #expect(handle.length == size && !handle.isNone)
            handles.append(handle)
        }
        for (tag, (handle, size)) in zip(handles, sizes).enumerated() {
            #expect(pool.holds(handle, size, tag: tag))
        }
        // Whole units, not whole blocks: 2,100 bytes hold 2,176, not 4,096.
        #expect(pool.used == 128 + 256 + 384 + 1024 + 2176 + 8064 + 60032 + 65536)
        #expect(pool.used == sizes.reduce(0) { $0 + heldSize($1) } && pool.failures == 0)
    }

    @Test func messagesOfUpToAKibibyteLieBackToBackInSlabs() throws {
        let pool = MessagePool(bytes: 65_536)
        // 355 bytes (a 302) take three units; 21 such slots fill an 8 KiB slab.
        let responses = try (0..<22).map { try #require(pool.store(355, tag: $0)) }
        let starts = try responses.map { try #require(pool.bytes($0).baseAddress) }
        for index in 1..<21 { #expect(starts[index] == starts[0] + 384 * index) }
        #expect(starts[21] - starts[0] >= 8192, "the 22nd starts a new slab")
        // Another size takes a slab of its own.
        let small = try #require(pool.store(100, tag: 100))
        let smallStart = try #require(pool.bytes(small).baseAddress)
        #expect(!(starts[0]..<starts[0] + 8192).contains(smallStart))
        #expect(pool.used == 22 * 384 + 128)
        // A freed slot is taken again first.
        pool.release(responses[5])
        let again = try #require(pool.store(300, tag: 200))
        #expect(pool.bytes(again).baseAddress == starts[5] && pool.holds(again, 300, tag: 200))
        for (tag, handle) in responses.enumerated() where tag != 5 { #expect(pool.holds(handle, 355, tag: tag)) }
        for handle in responses + [small, again] { pool.release(handle) }
        #expect(pool.used == 0 && pool.store(65_536, tag: 4) != nil, "empty slabs went back and merged")
    }

    @Test func theUnitsPastALargeMessageGoBack() throws {
        let pool = MessagePool(bytes: 65_536)
        // 1,100 bytes take nine units of a 16-unit block: the other seven go back at once,
        // as blocks of 1, 2 and 4 units.
        let request = try #require(pool.store(1_100, tag: 3))
        let first = Int32(request.blockPlusOne - 1)
        #expect(pool.heads[0] == first + 9 + 1 && pool.heads[1] == first + 10 + 1 && pool.heads[2] == first + 12 + 1)
        #expect(pool.used == 1152)
        pool.release(request)
        #expect(pool.used == 0 && pool.store(65_536, tag: 4) != nil)
    }

    @Test func emptyAndOversizedMessages() {
        let pool = MessagePool(bytes: 65_536)
        #expect(pool.store(0, tag: 0) == MessageHandle.none)  // no block taken, no failure
        #expect(pool.bytes(.none).count == 0 && pool.used == 0 && pool.failures == 0)
        #expect(pool.store(65_537, tag: 0) == nil)
        #expect(pool.store(200_000, tag: 0) == nil)
        #expect(pool.failures == 2 && pool.used == 0)
        let largest = pool.store(65_536, tag: 1)
        #expect(largest != nil && pool.used == 65_536 && pool.failures == 2)
    }

    @Test func aFullPoolRefusesAndTakesTheSameAgainAfterReleases() throws {
        let pool = MessagePool(bytes: 2 * 65_536)
        for round in 0..<2 {
            var handles: [MessageHandle] = []
            for tag in 0..<512 { handles.append(try #require(pool.store(200, tag: tag))) }
            #expect(pool.used == pool.capacity)
            #expect(pool.store(1, tag: 0) == nil)
            #expect(pool.store(65_536, tag: 0) == nil)
            #expect(pool.failures == 2 * (round + 1))
            for (tag, handle) in handles.enumerated() { #expect(pool.holds(handle, 200, tag: tag)) }
            for handle in handles { pool.release(handle) }
            #expect(pool.used == 0)
        }
        #expect(pool.peakUsed == pool.capacity)
    }

    @Test func buddiesMergeBackIntoTheLargestBlock() throws {
        let pool = MessagePool(bytes: 2 * 65_536)
        let sizes = [100, 3000, 300, 20000, 1, 700, 256, 9000, 5000]
        var handles = try sizes.map { try #require(pool.store($0, tag: $0)) }
        #expect(pool.store(65_536, tag: 0) == nil)
        var generator = SeededGenerator(state: 7)
        handles.shuffle(using: &generator)
        for handle in handles { pool.release(handle) }
        #expect(pool.used == 0)
        let whole = try #require(pool.store(65_536, tag: 3))
        let other = try #require(pool.store(65_536, tag: 5))
        #expect(pool.holds(whole, 65_536, tag: 3) && pool.holds(other, 65_536, tag: 5))
    }

    /// Whether every page of `length` bytes at `start` is resident (mincore(2)).
    private func resident(_ start: UnsafeRawPointer, _ length: Int) -> Bool {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = Int(bitPattern: start) / page * page
        let pages = (Int(bitPattern: start) + length - first + page - 1) / page
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(UnsafeMutableRawPointer(bitPattern: first), pages * page, &vector) == 0 else { return false }
        return vector.allSatisfy { $0 & 1 != 0 }
    }

    @Test func aBurstsPagesGoBackToTheKernelAllButAReserve() throws {
        let pool = MessagePool(bytes: 64 * 65_536)
        // A burst of 40 messages of 60 KB: 40 largest blocks written.
        let handles = try (0..<40).map { try #require(pool.store(60_000, tag: $0)) }
        let starts = try handles.map { try #require(pool.bytes($0).baseAddress) }
        #expect(starts.allSatisfy { resident($0, 60_000) })
        #expect(pool.trim() == 0, "nothing is free yet")
        for handle in handles { pool.release(handle) }
        // All but the 16 freed last go back to the kernel; those stay for the next burst.
        #expect(pool.trim() == 24 * 65_536)
        #expect(pool.bytesReturned == 24 * 65_536)
        #expect(starts.prefix(24).allSatisfy { !resident($0, 60_000) })
        #expect(starts.suffix(16).allSatisfy { resident($0, 60_000) })
        #expect(pool.trim() == 0, "given back once")
        // Pages given back are taken again like any others and hold what is stored.
        let again = try (0..<40).map { try #require(pool.store(65_536, tag: 100 + $0)) }
        for (index, handle) in again.enumerated() { #expect(pool.holds(handle, 65_536, tag: 100 + index)) }
    }

    @Test func freedBlocksAreReusedFirst() throws {
        // A large pool: if one message at a time stays within the first 64 KiB, only those
        // pages ever become resident.
        let pool = MessagePool(bytes: 64 << 20)
        let first = try #require(pool.store(10, tag: 0))
        let base = try #require(pool.bytes(first).baseAddress)
        pool.release(first)
        var generator = SeededGenerator(state: 11)
        for tag in 0..<300 {
            let size = Int.random(in: 1...65_536, using: &generator)
            let handle = try #require(pool.store(size, tag: tag))
            let start = try #require(pool.bytes(handle).baseAddress)
            #expect(start >= base && start + size <= base + 65_536)
            pool.release(handle)
        }
        #expect(pool.peakUsed == 65_536)
    }

    @Test func releasingNoneOrTwiceIsHarmless() throws {
        let pool = MessagePool(bytes: 65_536)
        pool.release(.none)
        let first = try #require(pool.store(1000, tag: 1))
        let address = pool.bytes(first).baseAddress
        pool.release(first)
        pool.release(first)
        #expect(pool.used == 0)
        // The same block, stored again: the stale handle neither frees nor reads it.
        let second = try #require(pool.store(1000, tag: 2))
        #expect(pool.bytes(second).baseAddress == address)
        pool.release(first)
        #expect(pool.used == 1024 && pool.bytes(first).count == 0)  // 1,000 bytes: 8 units
        let other = try #require(pool.store(1000, tag: 3))
        #expect(pool.holds(second, 1000, tag: 2) && pool.holds(other, 1000, tag: 3))
        pool.release(second)
        pool.release(other)
        pool.release(.none)
        #expect(pool.used == 0 && pool.store(65_536, tag: 4) != nil)
    }

    @Test func zeroedHandlesAreNone() {
        let zero = MessageHandle(blockPlusOne: 0, order: 0, stamp: 0, count: 0)
        #expect(zero == .none && zero.isNone && zero.length == 0)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomStoresAndReleasesMatchAModel(seed: UInt64) {
        let pool = MessagePool(bytes: 1 << 20)
        var generator = SeededGenerator(state: seed)
        var live: [(handle: MessageHandle, bytes: [UInt8], tag: Int)] = []  // the model
        var refused = 0, oversized = 0, peak = 0
        for step in 0..<5000 {
            if live.isEmpty || Int.random(in: 0..<100, using: &generator) < 55 {
                // Mostly small messages, now and then one near or past the largest block.
                let scale = 1 << Int.random(in: 0...16, using: &generator)
                var length = Int.random(in: 1...scale, using: &generator)
                if Int.random(in: 0..<200, using: &generator) == 0 {
                    length = 65_536 + Int.random(in: 1...9, using: &generator)
                }
                let bytes = message(length, tag: step)
                if let handle = bytes.withUnsafeBytes({ pool.store($0) }) {
                    live.append((handle, bytes, step))
                } else if length > 65_536 {
                    oversized += 1
                } else {
                    refused += 1
                    // Refused only when nothing large enough is free (and no block is unused):
                    // a slab with room for its size or a block to cut one from (1 KiB or
                    // less), a block of its order or larger (more).
                    let units = (length + 127) / 128
                    let order = units <= 8 ? 6 : blockOrder(length)
                    #expect((order...9).allSatisfy { pool.heads[$0] == 0 } && pool.nextUnused == 16)
                    #expect(units > 8 || pool.slabsWithRoom[units] == 0)
                }
            } else {
                let victim = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
                #expect(pool.holds(victim.handle, victim.bytes), "message \(victim.tag)")
                pool.release(victim.handle)
                if Int.random(in: 0..<10, using: &generator) == 0 { pool.release(victim.handle) }
            }
            let used = live.reduce(0) { $0 + heldSize($1.bytes.count) }
            peak = max(peak, used)
            #expect(pool.used == used && pool.peakUsed == peak)
            #expect(pool.failures == refused + oversized)
            if step % 10 == 0 {
                for entry in live { #expect(pool.holds(entry.handle, entry.bytes), "message \(entry.tag)") }
            }
        }
        #expect(refused > 0 && oversized > 0)  // the run did reach a full pool
        for entry in live { #expect(pool.holds(entry.handle, entry.bytes), "message \(entry.tag)") }
        for entry in live { pool.release(entry.handle) }
        #expect(pool.used == 0)
        for _ in 0..<16 { #expect(pool.store(65_536, tag: 0) != nil) }
        #expect(pool.used == pool.capacity)
    }
}
