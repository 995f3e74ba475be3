// A fixed set of worker threads for running independent models side by side (issue "Speed": the
// models of a joint step do not touch each other until the optimizer, so on a machine with C
// cores they run C at a time, each with single-threaded BLAS). Work is handed out by lane index,
// never by a queue: lane i always does the same share of a job, so which thread computes which
// model is fixed and results do not depend on scheduling. A call to `run` allocates nothing
// (mutex and condition variable are created once), so the training step stays allocation-free.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Work split by lane: `runLane(lane, of: lanes)` is called once per lane, concurrently.
/// Hot paths (the training step, the optimizer) pass themselves as the job: handing a
/// non-escaping closure to another thread needs `withoutActuallyEscaping`, which allocates a box
/// on every call, and a step must not allocate.
public protocol LaneJob: AnyObject {
    func runLane(_ lane: Int, of lanes: Int)
}

/// A closure as a `LaneJob` (for the convenience `run(_:)`; allocates).
private final class ClosureJob: LaneJob {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
    func runLane(_ lane: Int, of lanes: Int) { body(lane) }
}

/// `lanes` lanes: lane 0 is the calling thread, lanes 1 ..< `lanes` are threads owned by the pool.
public final class WorkerPool: @unchecked Sendable {
    /// Number of lanes, the caller's included.
    public let lanes: Int
    // The workers hold `shared`, not the pool, so that dropping the last reference to the pool
    // ends its threads (in `deinit`).
    private let shared: PoolShared
    private var threads: [pthread_t] = []

    /// A pool of `lanes` lanes (at least 1; 1 runs everything on the caller, no threads).
    public init(lanes: Int) {
        self.lanes = max(1, lanes)
        shared = PoolShared()
        for lane in 1..<self.lanes {
            let context = Unmanaged.passRetained(WorkerContext(shared: shared, lane: lane)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.shared.workerLoop(lane: context.lane)
                return nil
            }, context)
            precondition(status == 0, "WorkerPool: pthread_create failed (\(status))")
            threads.append(thread)
        }
    }

    deinit {
        shared.stop()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Calls `job.runLane(lane, of: lanes)` once for every lane 0 ..< `lanes`, lane 0 on the
    /// calling thread, and returns when all have returned. Allocates nothing.
    public func run(_ job: LaneJob) { run(job, lanes: lanes) }

    /// Calls `job.runLane(lane, of: count)` for lanes 0 ..< `count` (clamped to 1 … `lanes`);
    /// the other workers stay asleep. For memory-bound passes split in whole blocks, which give
    /// the same bits for any count and run best one lane per core. Allocates nothing.
    public func run(_ job: LaneJob, lanes count: Int) {
        let count = min(max(1, count), lanes)
        if count == 1 {
            job.runLane(0, of: 1)
            return
        }
        shared.start(job, workers: count - 1)
        job.runLane(0, of: count)
        shared.wait()
    }

    /// Calls `body(lane)` once for every lane, as `run(_: LaneJob)`; each lane must only touch
    /// what it owns. Allocates a little per call: for benchmarks and set-up, not for a step.
    public func run(_ body: (Int) -> Void) {
        if lanes == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { body in run(ClosureJob(body)) }
    }

    /// Calls `body(item)` for every item 0 ..< `count`, item i on lane `i % lanes`, in increasing
    /// order within a lane: a fixed assignment of items (models) to threads.
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || lanes == 1 {
            for i in 0..<count { body(i) }
            return
        }
        run { lane in
            var i = lane
            while i < count {
                body(i)
                i += lanes
            }
        }
    }
}

/// The state the caller and the workers share, behind one mutex.
private final class PoolShared: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is read and written with `mutex` held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private let done: UnsafeMutablePointer<pthread_cond_t>
    private var generation = 0
    private var pending = 0
    private var stopping = false
    private var job: LaneJob?
    private var lanes = 1

    init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        done = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
        done.deallocate()
    }

    func start(_ job: LaneJob, workers: Int) {
        pthread_mutex_lock(mutex)
        self.job = job
        lanes = workers + 1
        pending = workers
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Waits for every worker to finish the current job, then forgets it (the closure must not
    /// outlive `withoutActuallyEscaping`).
    func wait() {
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(done, mutex) }
        job = nil
        pthread_mutex_unlock(mutex)
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    func workerLoop(lane: Int) {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !stopping { pthread_cond_wait(wake, mutex) }
            if stopping { break }
            seen = generation
            // A job on fewer lanes than the pool has leaves the higher workers asleep.
            guard lane < lanes else { continue }
            do {
                // The reference ends with this scope, before `pending` is decremented, so a
                // closure job is unreferenced when `wait` returns (`withoutActuallyEscaping`).
                let job = self.job!
                let lanes = self.lanes
                pthread_mutex_unlock(mutex)
                job.runLane(lane, of: lanes)
            }
            pthread_mutex_lock(mutex)
            pending -= 1
            if pending == 0 { pthread_cond_signal(done) }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// What a worker thread starts with.
private final class WorkerContext {
    let shared: PoolShared
    let lane: Int
    init(shared: PoolShared, lane: Int) {
        self.shared = shared
        self.lane = lane
    }
}
