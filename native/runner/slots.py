"""uid slots: with a multi-uid map (the full tier as root) each child owns
one uid of 1..count-2 from its fork to its reap; count-1 is the zygote's
own. Elsewhere every child is slot 0, the zygote's uid."""
import collections


class UidSlots:
    def __init__(self, per_run_uid, uid_count):
        self.multi_uid = per_run_uid and uid_count > 2
        # FIFO: the slot freed longest ago is taken first, so a uid is not
        # reused the moment its previous run is reaped.
        self._free = collections.deque(range(1, uid_count - 1) if self.multi_uid else ())

    def take(self):
        """A free slot, or None when there is none."""
        if not self.multi_uid:
            return 0
        if not self._free:
            return None
        return self._free.popleft()

    def give(self, slot):
        if self.multi_uid and slot:
            self._free.append(slot)
