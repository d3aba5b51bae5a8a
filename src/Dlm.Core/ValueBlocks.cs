using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>The LVB rules of spec §4.14 (with the §9.4.3 correction on VALNOTVALID). Pure.</summary>
internal static class ValueBlocks
{
    /// <summary>At grant time, with the modes before the grant (spec §4.5 direction table).</summary>
    public static void OnGrant(Rsb rsb, Lkb lkb)
    {
        if (!lkb.Has(LockFlags.ValBlk) || lkb.ValueBlock is null)
        {
            return;
        }

        switch (ModeTables.LvbOnGrant(lkb.GrantedMode, lkb.RequestedMode))
        {
            case LvbTransfer.Return:
                if (rsb.ValueBlock is null)
                {
                    return; // no LVB yet: the caller's buffer is left alone, no VALNOTVALID (spec §9.4.3)
                }

                rsb.ValueBlock.CopyTo(lkb.ValueBlock.AsSpan());
                lkb.LvbSeq = rsb.LvbSeq;
                break;
            case LvbTransfer.Write:
                if (lkb.Has(LockFlags.IvValBlk))
                {
                    rsb.ValueNotValid = true;
                    return; // the lock itself gets no VALNOTVALID here (spec §9.4.3)
                }

                Write(rsb, lkb);
                break;
        }

        if (rsb.ValueNotValid)
        {
            lkb.SbFlags |= StatusBlockFlags.ValNotValid;
        }
    }

    /// <summary>At unlock of a lock granted PW or EX (spec §4.14).</summary>
    public static void OnUnlock(Rsb rsb, Lkb lkb)
    {
        if (lkb.Has(LockFlags.IvValBlk))
        {
            rsb.ValueNotValid = true;
        }
        else if (lkb.Has(LockFlags.ValBlk) && lkb.ValueBlock is not null)
        {
            Write(rsb, lkb);
        }
    }

    private static void Write(Rsb rsb, Lkb lkb)
    {
        rsb.ValueBlock ??= new byte[rsb.LvbLength];
        lkb.ValueBlock.AsSpan(0, Math.Min(lkb.ValueBlock!.Length, rsb.LvbLength)).CopyTo(rsb.ValueBlock);
        rsb.LvbSeq++;
        lkb.LvbSeq = rsb.LvbSeq;
        rsb.ValueNotValid = false;
    }
}
