using System;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace GuestFs.Engine.Library;

/// <summary>
/// The SHA-512 password hash of glibc's crypt ("$6$salt$…", 5000 rounds), as /etc/shadow
/// stores it and virt-customize --password-crypto sha512 writes it.
/// </summary>
public static class Sha512Crypt
{
    private const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int Rounds = 5000;

    /// <summary>A new salt of <paramref name="length"/> (at most 16) characters from crypt's alphabet.</summary>
    public static string NewSalt(int length = 16)
    {
        if (length is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(length));
        var sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) sb.Append(Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)]);
        return sb.ToString();
    }

    /// <summary>The hash of <paramref name="password"/> (UTF-8) with <paramref name="salt"/> (its first 16 characters count).</summary>
    public static string Hash(string password, string salt)
    {
        if (salt.Length > 16) salt = salt.Substring(0, 16);
        if (salt.IndexOfAny(new[] { '$', ':', '\n' }) >= 0) throw new ArgumentException("A crypt salt cannot contain '$', ':' or a newline.", nameof(salt));
        byte[] p = Encoding.UTF8.GetBytes(password);
        byte[] s = Encoding.UTF8.GetBytes(salt);

        // The alternate sum: password, salt, password.
        byte[] alt = SHA512.HashData(Concat(p, s, p));

        // The first sum: password, salt, then the alternate sum stretched to the password's
        // length, then for each bit of that length (lowest first) the alternate sum or the password.
        using var a = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        a.AppendData(p); a.AppendData(s);
        int n = p.Length;
        for (; n > 64; n -= 64) a.AppendData(alt);
        a.AppendData(alt, 0, n);
        for (int len = p.Length; len > 0; len >>= 1) a.AppendData((len & 1) != 0 ? alt : p);
        byte[] c = a.GetHashAndReset();

        // The password and salt sequences.
        using var dp = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        for (int i = 0; i < p.Length; i++) dp.AppendData(p);
        byte[] pSeq = Stretch(dp.GetHashAndReset(), p.Length);
        using var ds = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        for (int i = 0; i < 16 + c[0]; i++) ds.AppendData(s);
        byte[] sSeq = Stretch(ds.GetHashAndReset(), s.Length);

        using var r = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        for (int i = 0; i < Rounds; i++)
        {
            r.AppendData((i & 1) != 0 ? pSeq : c);
            if (i % 3 != 0) r.AppendData(sSeq);
            if (i % 7 != 0) r.AppendData(pSeq);
            r.AppendData((i & 1) != 0 ? c : pSeq);
            c = r.GetHashAndReset();
        }

        var sb = new StringBuilder("$6$").Append(salt).Append('$');
        // The digest's bytes go out in groups of three, in crypt's own order, 6 bits per character.
        for (int g = 0; g < 21; g++)
        {
            int i0 = (g * 22) % 63, i1 = (i0 + 21) % 63, i2 = (i0 + 42) % 63;
            Encode(sb, c[i0], c[i1], c[i2], 4);
        }
        Encode(sb, 0, 0, c[63], 2);
        return sb.ToString();
    }

    /// <summary>True when <paramref name="hash"/> ("$6$salt$…") is the hash of <paramref name="password"/>.</summary>
    public static bool Verify(string password, string hash)
    {
        if (!hash.StartsWith("$6$", StringComparison.Ordinal)) return false;
        int end = hash.IndexOf('$', 3);
        if (end < 0) return false;
        var mine = Encoding.ASCII.GetBytes(Hash(password, hash.Substring(3, end - 3)));
        var theirs = Encoding.ASCII.GetBytes(hash);
        return CryptographicOperations.FixedTimeEquals(mine, theirs);
    }

    private static void Encode(StringBuilder sb, byte b2, byte b1, byte b0, int chars)
    {
        int w = (b2 << 16) | (b1 << 8) | b0;
        for (int i = 0; i < chars; i++) { sb.Append(Alphabet[w & 0x3f]); w >>= 6; }
    }

    private static byte[] Stretch(byte[] digest, int length)
    {
        var o = new byte[length];
        for (int i = 0; i < length; i++) o[i] = digest[i % 64];
        return o;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(x => x).ToArray();
}
