package broker

// FlowLimits are a queue's producer flow control levels (the original's
// qpid.flow_stop_count/size and qpid.flow_resume_count/size). Once the
// queue holds more than a stop level it stops: the messages producers send
// it are still queued, but their acceptance waits until the queue holds
// less than every resume level again, so a producer with a window of
// unsettled messages stops sending. Producers see a slow consumer as a
// bounded delay, not as a queue that fills to its limit and then refuses.
// A level of 0 is off.
type FlowLimits struct {
	StopCount, ResumeCount int64
	StopBytes, ResumeBytes int64
	// Set is true when the queue's arguments gave any level, false when
	// the levels come from the broker's default thresholds.
	Set bool
}

func (f FlowLimits) enabled() bool { return f.StopCount > 0 || f.StopBytes > 0 }

// stops reports whether a queue of this depth is above a stop level.
func (f FlowLimits) stops(depth int, bytes int64) bool {
	return (f.StopCount > 0 && int64(depth) > f.StopCount) || (f.StopBytes > 0 && bytes > f.StopBytes)
}

// resumes reports whether a queue of this depth is below every resume
// level of a stop level in use (a resume level of 0 means empty).
func (f FlowLimits) resumes(depth int, bytes int64) bool {
	return (f.StopCount == 0 || int64(depth) < max(f.ResumeCount, 1)) &&
		(f.StopBytes == 0 || bytes < max(f.ResumeBytes, 1))
}

// flowLimits resolves a queue's levels: those of its arguments, a resume
// level not given following its stop level by the ratio of the default
// thresholds; else the default thresholds (percent) of the queue's limits.
// A ring queue makes room by dropping, so it has no default levels.
func (c Config) flowLimits(s QueueSettings) FlowLimits {
	stop, resume := int64(c.FlowStopThreshold), int64(c.FlowResumeThreshold)
	f := s.Flow
	if !f.Set {
		if s.Policy == PolicyRing || stop <= 0 {
			return FlowLimits{}
		}
		return FlowLimits{
			StopCount: int64(s.MaxCount) * stop / 100, ResumeCount: int64(s.MaxCount) * resume / 100,
			StopBytes: s.MaxBytes / 100 * stop, ResumeBytes: s.MaxBytes / 100 * resume,
		}
	}
	if stop <= 0 {
		stop, resume = 80, 70 // the original's defaults
	}
	if f.ResumeCount == 0 {
		f.ResumeCount = f.StopCount * resume / stop
	}
	if f.ResumeBytes == 0 {
		f.ResumeBytes = f.StopBytes / stop * resume
	}
	return f
}

// flowEnqueued stops the queue once it is above a stop level; while it is
// stopped, each new entry gets a hold that ends when it resumes (q.mu held).
func (q *Queue) flowEnqueued(e *Entry) {
	if !q.flowStopped && q.settings.Flow.stops(q.stats.Depth, q.stats.Bytes) {
		q.flowStopped = true
		q.stats.FlowStops++
		q.flowChanged()
	}
	if q.flowStopped {
		e.flow = NewHold(1)
		q.flowHeld = append(q.flowHeld, e)
	}
}

// flowDequeued resumes the queue once it is below the resume levels,
// ending the holds of the entries that arrived while it was stopped; an
// entry leaving the queue ends its own hold at once (q.mu held).
func (q *Queue) flowDequeued(e *Entry) {
	if !q.flowStopped {
		return
	}
	if e.flow != nil {
		q.completed = append(q.completed, e.flow)
		// A queue may stay stopped for good while its consumers keep
		// pace: forget the entries gone, now and then, or the list would
		// grow by one per message.
		if q.flowGone++; q.flowGone > len(q.flowHeld)/2 {
			kept := q.flowHeld[:0]
			for _, h := range q.flowHeld {
				if h.state != removed {
					kept = append(kept, h)
				}
			}
			clear(q.flowHeld[len(kept):])
			q.flowHeld, q.flowGone = kept, 0
		}
	}
	if q.settings.Flow.resumes(q.stats.Depth, q.stats.Bytes) {
		q.flowStopped = false
		for _, h := range q.flowHeld {
			q.completed = append(q.completed, h.flow)
		}
		clear(q.flowHeld)
		q.flowHeld, q.flowGone = q.flowHeld[:0], 0
		q.flowChanged()
	}
}

func (q *Queue) flowChanged() {
	if q.broker != nil && q.broker.cfg.FlowChanged != nil {
		q.broker.cfg.FlowChanged(q.name, q.flowStopped, q.stats.Depth, q.stats.Bytes)
	}
}

// FlowHold returns the hold producer flow control put on the entry's
// acceptance, nil if the queue was not stopped when it arrived.
func (e *Entry) FlowHold() *Hold { return e.flow }
