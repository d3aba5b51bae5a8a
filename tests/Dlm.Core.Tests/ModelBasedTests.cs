using System.Text;
using CsCheck;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>
/// Random operation sequences on one resource with four locks, run against
/// <see cref="MasterOperations"/> and the independent <see cref="RefResource"/>, compared after every step.
/// </summary>
public sealed class ModelBasedTests
{
    private const int Slots = 4;

    private static readonly Gen<Op> OpGen = Gen.Select(Gen.Int[0, Slots - 1], Gen.Int[0, 3], Gen.Int[0, 5], Gen.Int[0, 3], Gen.Bool)
        .Select(t => new Op(t.Item1, t.Item2, (LockMode)t.Item3, t.Item4, t.Item5));

    [Fact]
    public void RandomSequences_CsCheck_MatchReferenceModel() =>
        OpGen.Array[1, 40].Sample(
            ops => new Harness().Run(ops),
            iter: 4000,
            print: ops => string.Join("; ", ops));

    [Fact]
    public void RandomSequences_SeededRandom_MatchReferenceModel()
    {
        var random = new Random(20240611);
        for (var sequence = 0; sequence < 2000; sequence++)
        {
            var ops = new Op[random.Next(1, 60)];
            for (var i = 0; i < ops.Length; i++)
            {
                ops[i] = new Op(random.Next(Slots), random.Next(4), (LockMode)random.Next(6), random.Next(4), random.Next(2) == 0);
            }

            new Harness().Run(ops);
        }
    }

    [Fact]
    public void Harness_ClassicConversionDeadlock_ModelAgrees()
    {
        // A fixed sequence through request, queued conversion, CONVDEADLK and cancel.
        new Harness().Run(
        [
            new Op(0, 0, LockMode.ConcurrentRead, 0, true),
            new Op(1, 0, LockMode.ConcurrentRead, 0, true),
            new Op(2, 0, LockMode.ConcurrentRead, 0, true),
            new Op(0, 0, LockMode.Exclusive, 0, true),
            new Op(1, 0, LockMode.Exclusive, 2, true),
            new Op(2, 0, LockMode.Exclusive, 0, true),
            new Op(1, 3, LockMode.Null, 0, true),
            new Op(2, 1, LockMode.Null, 0, true),
        ]);
    }

    /// <summary>
    /// One step. Meaning depends on the slot's state: empty → request (<see cref="Choice"/> odd: NOQUEUE);
    /// granted → <see cref="Kind"/> 0/3 convert (Choice: none, NOQUEUE, CONVDEADLK, QUECVT when §4.4 allows it),
    /// 1 unlock, 2 cancel; queued → Kind even unlock, odd cancel.
    /// </summary>
    internal readonly record struct Op(int Slot, int Kind, LockMode Mode, int Choice, bool Bast)
    {
        public override string ToString() => $"[{Slot} k{Kind} {LockModes.ShortName(Mode)} c{Choice}{(Bast ? "" : " nobast")}]";
    }

    private sealed class Harness
    {
        private readonly Rsb _rsb = new("model"u8.ToArray(), 32);
        private readonly RecordingEffects _fx = new();
        private readonly RefResource _model = new();
        private readonly Lkb?[] _real = new Lkb?[Slots];
        private readonly RefLock?[] _ref = new RefLock?[Slots];
        private readonly List<string> _history = [];

        public void Run(IEnumerable<Op> ops)
        {
            foreach (var op in ops)
            {
                Step(op);
            }
        }

        private void Step(Op op)
        {
            _fx.Clear();
            _model.ClearEffects();
            var slot = op.Slot;
            var id = (uint)slot + 1;
            var real = _real[slot];
            var model = _ref[slot];
            string description;
            int realResult, modelResult;
            var checkDemoted = false;

            if (real is null || real.Status == QueueStatus.None)
            {
                var flags = op.Choice % 2 == 1 ? LockFlags.NoQueue : LockFlags.None;
                description = $"request {id} {LockModes.ShortName(op.Mode)} {flags}";
                real = _real[slot] = new Lkb(id, op.Mode, flags, op.Bast);
                model = _ref[slot] = new RefLock(id, op.Bast);
                realResult = MasterOperations.Request(_rsb, real, _fx);
                modelResult = _model.Request(model, op.Mode, flags);
                checkDemoted = true;
            }
            else if (real.Status == QueueStatus.Granted && op.Kind is 0 or 3)
            {
                var flags = op.Choice switch
                {
                    1 => LockFlags.NoQueue,
                    2 => LockFlags.ConvDeadlk,
                    3 when ModeTables.QueCvtAllowed(real.GrantedMode, op.Mode) => LockFlags.QueCvt,
                    _ => LockFlags.None,
                };
                description = $"convert {id} {LockModes.ShortName(real.GrantedMode)}->{LockModes.ShortName(op.Mode)} {flags}";
                realResult = MasterOperations.Convert(_rsb, real, op.Mode, flags, _fx);
                modelResult = _model.ConvertLock(model!, op.Mode, flags);
                checkDemoted = true;
            }
            else if (real.Status == QueueStatus.Granted ? op.Kind == 2 : op.Kind % 2 == 1)
            {
                description = $"cancel {id} ({real.Status})";
                realResult = MasterOperations.Cancel(_rsb, real, _fx);
                modelResult = _model.Cancel(model!);
            }
            else
            {
                description = $"unlock {id} ({real.Status})";
                realResult = MasterOperations.Unlock(_rsb, real, LockFlags.None, _fx);
                modelResult = _model.Unlock(model!);
            }

            _history.Add(description);
            var expected = Describe(modelResult, _model.Granted.Select(ModelLock), _model.Convert.Select(ModelLock), _model.Waiting.Select(ModelLock), _model.Effects, _ref.Select(ModelLockOrNone))
                + (checkDemoted ? $" demoted={model!.Demoted}" : "");
            var actual = Describe(realResult, _rsb.Granted.Select(RealLock), _rsb.Converting.Select(RealLock), _rsb.Waiting.Select(RealLock), _fx.Effects, _real.Select(RealLockOrNone))
                + (checkDemoted ? $" demoted={(real.SbFlags & StatusBlockFlags.Demoted) != 0}" : "");
            if (expected != actual)
            {
                Assert.Fail($"mismatch after step {_history.Count}:\n  {string.Join("\n  ", _history)}\nmodel: {expected}\nsrc:   {actual}");
            }

            CheckInvariants();
        }

        private void CheckInvariants()
        {
            var holders = _rsb.Granted.Concat(_rsb.Converting).ToList();
            for (var i = 0; i < holders.Count; i++)
            {
                for (var j = i + 1; j < holders.Count; j++)
                {
                    Assert.True(
                        ModeTables.Compatible(holders[i].GrantedMode, holders[j].GrantedMode),
                        $"incompatible granted modes {holders[i]} / {holders[j]} after: {string.Join("; ", _history)}");
                }
            }

            Assert.All(_rsb.Granted, l => Assert.Equal(QueueStatus.Granted, l.Status));
            Assert.All(_rsb.Converting, l => Assert.Equal(QueueStatus.Convert, l.Status));
            Assert.All(_rsb.Waiting, l => Assert.Equal(QueueStatus.Waiting, l.Status));
            Assert.All(_rsb.Granted, l => Assert.Equal(LockMode.Invalid, l.RequestedMode));
        }

        private static string Describe(
            int result, IEnumerable<string> granted, IEnumerable<string> converting, IEnumerable<string> waiting, IEnumerable<Effect> effects, IEnumerable<string> locks)
        {
            var sb = new StringBuilder();
            sb.Append("result=").Append(Errno.NameOf(result) ?? result.ToString(System.Globalization.CultureInfo.InvariantCulture));
            sb.Append(" G[").AppendJoin(' ', granted).Append(']');
            sb.Append(" C[").AppendJoin(' ', converting).Append(']');
            sb.Append(" W[").AppendJoin(' ', waiting).Append(']');
            sb.Append(" locks{").AppendJoin(' ', locks).Append('}');
            sb.Append(" effects(").AppendJoin(' ', effects).Append(')');
            return sb.ToString();
        }

        private static string Mode(LockMode m) => LockModes.ShortName(m);

        private static string ModelLock(RefLock l) => $"{l.Id}:{Mode(l.Gr)}>{Mode(l.Rq)}/hb{Mode(l.HighBast)}";

        private static string RealLock(Lkb l) => $"{l.Id}:{Mode(l.GrantedMode)}>{Mode(l.RequestedMode)}/hb{Mode(l.HighBast)}";

        private static string ModelLockOrNone(RefLock? l) => l is null || l.Queue == QueueStatus.None ? "-" : $"{l.Id}={l.Queue}";

        private static string RealLockOrNone(Lkb? l) => l is null || l.Status == QueueStatus.None ? "-" : $"{l.Id}={l.Status}";
    }
}
