using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>One effect reported through <see cref="IGrantEffects"/>.</summary>
/// <param name="Kind">Granted or Blocking.</param>
/// <param name="LockId">The lock the effect is for.</param>
/// <param name="Mode">The blocking mode (IV for Granted).</param>
internal readonly record struct Effect(EffectKind Kind, uint LockId, LockMode Mode)
{
    public static Effect Granted(uint id) => new(EffectKind.Granted, id, LockMode.Invalid);

    public static Effect Blocking(uint id, LockMode mode) => new(EffectKind.Blocking, id, mode);

    public override string ToString() =>
        Kind == EffectKind.Granted ? $"Granted({LockId})" : $"Blocking({LockId}, {LockModes.ShortName(Mode)})";
}

internal enum EffectKind
{
    Granted,
    Blocking,
}

/// <summary>Records Granted and Blocking effects in the order they are reported.</summary>
internal sealed class RecordingEffects : IGrantEffects
{
    private readonly List<Effect> _effects = [];

    public IReadOnlyList<Effect> Effects => _effects;

    public IReadOnlyList<Effect> Blockings => [.. _effects.Where(e => e.Kind == EffectKind.Blocking)];

    public IReadOnlyList<uint> GrantedIds => [.. _effects.Where(e => e.Kind == EffectKind.Granted).Select(e => e.LockId)];

    public void Granted(Lkb lkb)
    {
        ArgumentNullException.ThrowIfNull(lkb);
        _effects.Add(Effect.Granted(lkb.Id));
    }

    public void Blocking(Lkb lkb, LockMode mode)
    {
        ArgumentNullException.ThrowIfNull(lkb);
        _effects.Add(Effect.Blocking(lkb.Id, mode));
    }

    public void Clear() => _effects.Clear();
}
