using GuestFs.Engine.Library;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>Sha512Crypt against answers of the host's glibc crypt(3) for the same password and salt.</summary>
public sealed class Sha512CryptTests
{
    [Theory]
    [InlineData("Hello world!", "saltstring", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("secret", "abcdefghijklmnop", "$6$abcdefghijklmnop$J/AWykHqo2Tx5UtavGnFc3ytI33la50JpzLTarSWVhkIXK6wOjNwwZjsrIw2UgmrER2EKrSHCeQyAINEEXAk1/")]
    [InlineData("", "x", "$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0123456789ABCDEF", "$6$0123456789ABCDEF$EtK3G0dVHVgjTn1AzFsabBAc3XmCIQe.e5Z38q8vKorSSHMB4/Da.b07nd2m4/L6Jv4BXlqU/oUhJGI9T/gt01")]
    [InlineData("pässwörd", "./Zz09", "$6$./Zz09$0RJmPIvlJ/iy7DkcXzqcyZtESyYxgyWSTqs6Tk9eHyCLFwcsxpNOeeAdL2Ka.nstq814MVHDxpk4d3QzfFhqw0")]
    public void Matches_glibc(string password, string salt, string expected)
    {
        Assert.Equal(expected, Sha512Crypt.Hash(password, salt));
        Assert.True(Sha512Crypt.Verify(password, expected));
        Assert.False(Sha512Crypt.Verify(password + "x", expected));
    }

    [Fact]
    public void New_salts_are_16_characters_of_the_crypt_alphabet()
    {
        var s = Sha512Crypt.NewSalt();
        Assert.Equal(16, s.Length);
        Assert.Matches("^[./0-9A-Za-z]{16}$", s);
        Assert.NotEqual(s, Sha512Crypt.NewSalt());
    }
}
