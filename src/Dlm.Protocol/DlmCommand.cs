namespace Dlm.Protocol;

/// <summary>The <c>h_cmd</c> byte of the common header (spec §1.3).</summary>
public enum DlmCommand : byte
{
    /// <summary><c>DLM_MSG</c>: lock traffic, body <c>dlm_message</c>.</summary>
    Message = 1,

    /// <summary><c>DLM_RCOM</c>: recovery traffic, body <c>dlm_rcom</c>.</summary>
    Rcom = 2,

    /// <summary><c>DLM_OPTS</c>: sequenced envelope around one inner message (3.2 only).</summary>
    Opts = 3,

    /// <summary><c>DLM_ACK</c>: header only, cumulative acknowledgement (3.2 only).</summary>
    Ack = 4,

    /// <summary><c>DLM_FIN</c>: header only, always inside <c>DLM_OPTS</c> (3.2 only).</summary>
    Fin = 5,
}
